"""The numerical core: activations, layers, convolutions, losses, models, optimisers, gradient
checks. Pure functions and model objects on arrays; nothing here opens a file.

registry (which models exist, their losses, which are linear) and models.ModelContract (what
every model provides) are the two places a new model is declared.
"""
