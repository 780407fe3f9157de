"""Epoch plans and image augmentation.

An epoch plan is, for every epoch, the order in which the training images are visited and each
visit's transformation (a horizontal flip and an integer shift). It depends only on
(seed, epoch, n, settings), so a plan can be stored (small) and replayed, or materialised into
the augmented images themselves; both give the same batches, byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

# Tags that keep the plan's random streams apart from the initialisation's (see training.solver.init_rng).
PLAN_STREAM = 0x5EED_0001
# How pixels shifted in from outside the image are filled: zeros, the nearest edge pixel, or the
# mirror image without repeating the edge (numpy.pad's 'edge' and 'reflect').
FILLS = ("zero", "edge", "reflect")


@dataclass
class EpochPlan:
    """Visit order and transformations of one epoch.

    order: (n,) int32, indices into the training images
    flip:  (n,) bool, flip the image visited at this position horizontally
    shift: (n, 2) int8, (dy, dx) shift of the image visited at this position
    fill:  how shifted-in pixels are filled (one of FILLS)
    """

    order: np.ndarray
    flip: np.ndarray
    shift: np.ndarray
    fill: str = "zero"


def make_epoch_plan(
    n: int, epoch: int, seed: int, shuffle: bool = True, flip: float = 0.0, translate: int = 0, fill: str = "zero"
) -> EpochPlan:
    """The plan of one epoch (epochs count from 1), a pure function of its arguments (`fill`
    changes no random draw)."""
    rng = np.random.default_rng([seed, PLAN_STREAM, epoch])
    order = rng.permutation(n).astype(np.int32) if shuffle else np.arange(n, dtype=np.int32)
    flips = rng.random(n) < flip if flip > 0 else np.zeros(n, dtype=bool)
    if translate > 0:
        shift = rng.integers(-translate, translate + 1, size=(n, 2), dtype=np.int8)
    else:
        shift = np.zeros((n, 2), dtype=np.int8)
    return EpochPlan(order, flips, shift, fill)


def augment_batch(
    images: np.ndarray, flip: np.ndarray, shift: np.ndarray, index: np.ndarray | None = None, fill: str = "zero"
) -> np.ndarray:
    """Flip then shift each image; pixels shifted in from outside are zero (`fill='zero'`), copies
    of the nearest edge pixel ('edge') or the image mirrored at its edge ('reflect').

    images: (N, H, W, C) uint8; index: (B,) rows of `images` to take (default: all, B = N);
    flip: (B,) bool; shift: (B, 2) int (dy, dx), |d| < H, W.
    Output pixel (i, j) of image b is input pixel (i - dy_b, j - dx_b) of the (flipped) image.
    Returns a new (B, H, W, C) uint8 array (the input is not modified). With `fill='zero'` the
    images move whole (`_zero_fill`); with the other fills, images that share (flip, dy, dx) are
    gathered and moved together, one slice copy per group, each pixel moved as one C-byte unit.
    """
    if fill not in FILLS:
        raise ValueError(f"fill is {fill!r}; use one of {', '.join(FILLS)}")
    if index is None:
        index = np.arange(len(images))
    if fill == "zero":
        return _zero_fill(images, np.asarray(flip, dtype=bool), shift, np.asarray(index))
    b = len(index)
    n, h, w, c = images.shape
    pixels = np.ascontiguousarray(images).view(np.dtype((np.void, c)))[..., 0]  # (N, H, W) of C-byte units
    out = np.zeros((b, h, w), dtype=pixels.dtype)
    dy, dx = shift[:, 0].astype(np.int64), shift[:, 1].astype(np.int64)
    key = (flip.astype(np.int64) * (2 * h + 1) + dy + h) * (2 * w + 1) + (dx + w)
    order = np.argsort(key, kind="stable")
    bounds = np.flatnonzero(np.diff(key[order])) + 1
    for group in np.split(order, bounds):
        if len(group) == 0:
            continue
        g = int(group[0])
        y, x = int(dy[g]), int(dx[g])
        src = pixels[index[group]]
        if flip[g]:
            src = src[:, :, ::-1]
        if fill != "zero" and (y or x):
            m = max(abs(y), abs(x))
            padded = np.pad(src, ((0, 0), (m, m), (m, m)), mode="edge" if fill == "edge" else "reflect")
            out[group] = padded[:, m - y : m - y + h, m - x : m - x + w]
            continue
        out[group, max(y, 0) : h + min(y, 0), max(x, 0) : w + min(x, 0)] = src[
            :, max(-y, 0) : h - max(y, 0), max(-x, 0) : w - max(x, 0)
        ]
    return out.view(np.uint8).reshape(b, h, w, c)


def mirror(images: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The horizontal mirror images of (N, H, W, C) `images`: the bytes of `images[:, :, ::-1]`,
    copied one channel at a time (a strided copy NumPy does several times faster than the
    reversed pixel order in one go), into `out` ((N, H, W, C), C-contiguous) when given."""
    out = np.empty(images.shape, dtype=images.dtype) if out is None else out
    for ch in range(images.shape[3]):
        out[..., ch] = images[:, :, ::-1, ch]
    return out


def _distinct(values: np.ndarray) -> list[int]:
    """The distinct values of a small integer array, ascending: np.unique's result, without the
    import of numpy.ma that np.unique makes on its first call (about 10 ms of a training job)."""
    return sorted(set(values.tolist()))


def _zero_fill(images: np.ndarray, flip: np.ndarray, shift: np.ndarray, index: np.ndarray) -> np.ndarray:
    """`augment_batch` with zero fill, by whole images instead of groups of equal shifts.

    The B source images are gathered into one flat buffer, the flipped ones mirrored on the way.
    Shifting an image by (dy, dx) moves its flat pixels by o = (dy W + dx) C bytes, so output b
    is the window of H W C bytes starting o_b bytes before its image in the buffer: one copy per
    image for all of them at once. Output pixel (i, j) reads source pixel (i - dy, j - dx) where
    both are inside the image; elsewhere it must be zero:
    - rows with i - dy outside [0, H) read neighbouring images or the margins: set to zero in
      the output, one assignment per distinct dy;
    - columns with j - dx outside [0, W) read the other end of a source row: for dx > 0 the
      last dx columns of the row above, for dx < 0 the first -dx columns of the row below (at
      the image's first or last row: of the image before or after it in the buffer). Those
      source columns are never read by a pixel inside the image, so they are zeroed in the
      source instead, one masked pass over each run of images with the same dx; the buffer
      holds the images by decreasing dx, so the image before (after) one with dx > 0 (< 0)
      has those columns zeroed too, and the margins are zero.
    """
    b = len(index)
    n, h, w, c = images.shape
    if b and (index.min() < -n or index.max() >= n):  # np.take's mode='wrap' below would accept them
        raise IndexError(f"an image index is outside [-{n}, {n})")
    size = h * w * c
    flat = np.ascontiguousarray(images).reshape(n, size)
    dy, dx = shift[:, 0].astype(np.int64), shift[:, 1].astype(np.int64)
    offset = (dy * w + dx) * c
    margin = int(np.abs(offset).max()) if b else 0
    buf = np.empty(b * size + 2 * margin, dtype=flat.dtype)
    buf[:margin] = 0
    buf[margin + b * size :] = 0
    rows = buf[margin : margin + b * size].reshape(b, size)
    where = np.empty(b, dtype=np.int64)  # the buffer row of each output image
    start = 0
    for v in _distinct(dx)[::-1]:
        kept = np.flatnonzero((dx == v) & ~flip)
        flipped = np.flatnonzero((dx == v) & flip)
        mid, stop = start + len(kept), start + len(kept) + len(flipped)
        np.take(flat, index[kept], axis=0, out=rows[start:mid], mode="wrap")  # no temporary
        if len(flipped):
            mirror(np.take(flat, index[flipped], axis=0).reshape(-1, h, w, c), out=rows[mid:stop].reshape(-1, h, w, c))
        where[kept], where[flipped] = np.arange(start, mid), np.arange(mid, stop)
        if v:
            keep = ~np.zeros((h, w, c), dtype=flat.dtype)  # every bit set (images are uint8)
            keep[:, slice(w - v, w) if v > 0 else slice(0, -v)] = 0
            np.bitwise_and(rows[start:stop], keep.reshape(size), out=rows[start:stop])
        start = stop
    item = buf.itemsize
    windows = as_strided(buf, shape=(b, 2 * margin + 1, size), strides=(size * item, item, item), writeable=False)
    out = windows[where, margin - offset].reshape(b, h, w, c)
    for v in _distinct(dy[dy != 0]):
        sel = np.flatnonzero(dy == v)
        out[sel, slice(0, v) if v > 0 else slice(h + v, h)] = 0
    return out


def plan_batch(images: np.ndarray, plan: EpochPlan, start: int, stop: int) -> np.ndarray:
    """The augmented uint8 images at positions [start, stop) of an epoch."""
    return augment_batch(images, plan.flip[start:stop], plan.shift[start:stop], plan.order[start:stop], plan.fill)


def materialise(images: np.ndarray, plan: EpochPlan, chunk: int = 5000) -> np.ndarray:
    """Every augmented image of one epoch, in visiting order: (n, H, W, C) uint8."""
    out = np.empty((len(plan.order),) + images.shape[1:], dtype=np.uint8)
    for s in range(0, len(plan.order), chunk):
        out[s : s + chunk] = plan_batch(images, plan, s, s + chunk)
    return out
