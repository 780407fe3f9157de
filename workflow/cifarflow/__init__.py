"""cifarflow: CIFAR-10 linear classifiers and small networks in NumPy, for a Snakemake workflow.

The modules hold pure functions (arrays in, arrays out); files are opened only in `cli`.
"""

__version__ = "0.1.0"

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
