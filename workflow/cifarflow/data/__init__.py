"""The data stage: sources and download -> raw HDF5 file -> splits -> epoch plans (augmentation).

sources (read any accepted CIFAR-10 source), source_digest (a source's sha256, cached), download
(fetch with checks and retries), splits (the raw and split HDF5 files, their statistics), subset
(a variant's classes and training limit), augment (epoch plans and image transformations), plans
(epoch-plan files).

The shapes every module of the stage shares are here, so that reading a split needs no source
reader (sources imports tarfile, pickle and, to decode, Pillow).
"""

N_BATCHES = 5  # official training batches (a folder source's images are dealt into as many pseudo-batches)
IMAGE_SHAPE = (32, 32, 3)  # height, width, RGB channels of every image
