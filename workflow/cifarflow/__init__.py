"""cifarflow: CIFAR-10 linear classifiers and small networks in NumPy, for a Snakemake workflow.

Stage packages in pipeline order: `data` (sources -> HDF5 files -> splits -> epoch plans), `nn`
(the numerical core: layers, losses, models; opens no files), `training` (settings and state, the
solver loop, which opens no files, run evaluation, the training job), `report` (figures, tables,
summaries). `cli` parses the commands the rules call; `config` checks and resolves the config;
`io` is the one I/O layer (atomic writes, hashing, provenance).
"""

__version__ = "1.0.0"

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
