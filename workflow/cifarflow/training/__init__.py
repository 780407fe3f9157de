"""Training: typed settings and state (state: the checkpoint format), the solver loop (pure, no
files), the evaluation of a finished run, and the job that turns a split, a plan and a variant
into run files.
"""
