"""The numerical core: activations, layers, convolutions, losses, models, optimisers, gradient
checks. Pure functions and model objects on arrays; nothing here opens a file.

registry (which models exist, their losses, which are linear) and base.Model (what every model
provides; the MLP family in models and the ConvNet in convnet derive from it) are the two places a
new model is declared.
"""
