"""The data stage: sources and download -> raw HDF5 file -> splits -> epoch plans (augmentation).

sources (read any accepted CIFAR-10 source), source_digest (a source's sha256, cached), download
(fetch with checks and retries), splits (the raw and split HDF5 files, their statistics), subset
(a variant's classes and training limit), augment (epoch plans and image transformations), plans
(epoch-plan files).
"""
