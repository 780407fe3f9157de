"""Convolutional layers in NumPy, their shape arithmetic, and 1-D convolution.

Layout is NHWC throughout: images `x: (N, H, W, C)`, filters `w: (F, kh, kw, C)`, outputs
`(N, Ho, Wo, F)`. NHWC is the layout CIFAR-10 rows arrive in (flattened HWC), and it makes the
im2col matrix a copy of contiguous `kw * C` runs whose row-major reshape `(N*Ho*Wo, kh*kw*C)`
multiplies `w.reshape(F, -1).T` in one GEMM whose `(N*Ho*Wo, F)` result is already NHWC: no
transpose before or after the GEMM. The backward pass reuses the cached im2col matrix for `dw`
(one GEMM) and builds `dx` with one small GEMM per kernel offset: for a stride-1 "same"
convolution each product is added to the flattened dx at a fixed row shift (contiguous adds,
after zeroing the rows that would wrap around an image edge); otherwise it is added into a
strided view of the padded dx (both faster than one big GEMM followed by col2im's strided adds).
With stride == kernel and no padding ("patchify") im2col and col2im are reshapes/transposes.

`conv_relu_pool_forward/backward` run a conv - ReLU - max-pool sequence as one block with the
same results in a cheaper order (bias and ReLU after the pool; see its docstring);
`cifarflow.nn.convnet` uses it wherever a network has that sequence.

Each layer is a pair `*_forward(x, ...) -> (out, cache)` and `*_backward(dout, cache) -> grads`,
as in CS231n's layers.py. All functions keep the input dtype (float32 stays float32).

Output size follows the usual floor rule, `Ho = (H + 2*pad - kh) // stride + 1`: rows and
columns that a last, incomplete window would need are dropped (as in PyTorch).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from cifarflow.errors import ConfigError
from cifarflow.nn.layers import relu_backward, relu_forward

__all__ = [
    "LAYER_TYPES",
    "LayerShape",
    "conv1d",
    "conv2d_backward",
    "conv2d_forward",
    "conv_relu_pool_backward",
    "conv_relu_pool_forward",
    "conv_output_shape",
    "flatten_backward",
    "flatten_forward",
    "infer_shapes",
    "layer_shapes",
    "maxpool_backward",
    "maxpool_forward",
    "parse_layers",
    "relu_backward",
    "relu_forward",
    "writeup_example",
]


# --------------------------------------------------------------------------------------------
# shape arithmetic
# --------------------------------------------------------------------------------------------


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        a, b = v
        return int(a), int(b)
    return int(v), int(v)


def conv_output_shape(
    h: int,
    w: int,
    kernel: int | tuple[int, int],
    stride: int | tuple[int, int] = 1,
    pad: int | tuple[int, int] = 0,
) -> tuple[int, int]:
    """Spatial output size `(Ho, Wo)` of a convolution or pooling window.

    `Ho = (h + 2*pad - kh) // stride + 1` (floor), likewise for `Wo`. `kernel`, `stride` and
    `pad` are an int or an `(along H, along W)` pair. Raises ConfigError when the window does
    not fit the padded input.
    """
    (kh, kw), (sh, sw), (ph, pw) = _pair(kernel), _pair(stride), _pair(pad)
    if min(kh, kw, sh, sw) < 1 or min(ph, pw) < 0:
        raise ConfigError(
            f"kernel {kernel}, stride {stride}, pad {pad} are invalid; use kernel and stride >= 1 and pad >= 0."
        )
    if h + 2 * ph < kh or w + 2 * pw < kw:
        raise ConfigError(
            f"a {kh}x{kw} window with pad {pad} does not fit a {h}x{w} input; use a smaller window or more padding."
        )
    return (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1


# --------------------------------------------------------------------------------------------
# layer descriptions (shared by `layer_shapes` and `cifarflow.nn.convnet`)
# --------------------------------------------------------------------------------------------

# layer type -> {option: default}; `None` means required
LAYER_TYPES: dict[str, dict[str, Any]] = {
    "conv": {"filters": None, "size": None, "stride": 1, "pad": 0},
    "relu": {},
    "pool": {"size": 2, "stride": None},  # stride defaults to size
    "flatten": {},
    "fc": {"units": None},  # the final fc's units may be omitted: n_classes
}


def parse_layers(layers: Any, where: str = "layers") -> list[tuple[str, dict[str, int]]]:
    """Normalise a layer list to `[(type, options), ...]` with defaults filled in.

    Each entry is `{type: {option: value}}` (options may be `{}` or null) or a bare type name
    such as `"relu"`. Types and options are those of `LAYER_TYPES`. An fc layer without
    `units` keeps `units=None`; `infer_shapes` fills it for the last layer only.
    Raises ConfigError (naming `where[i]`) for unknown types or options and bad values.
    """
    if not isinstance(layers, (list, tuple)) or not layers:
        raise ConfigError(f"{where} must be a non-empty list of layers such as {{'conv': {{...}}}}.")
    out = []
    for i, entry in enumerate(layers):
        loc = f"{where}[{i}]"
        if isinstance(entry, str):
            kind, opts = entry, {}
        elif isinstance(entry, dict) and len(entry) == 1:
            ((kind, opts),) = entry.items()
            opts = {} if opts is None else opts
        else:
            raise ConfigError(
                f"{loc} is {entry!r}; write each layer as a one-key mapping such as "
                "{'conv': {'filters': 32, 'size': 3}}."
            )
        if kind not in LAYER_TYPES:
            raise ConfigError(f"{loc} has unknown layer type {kind!r}; use one of {', '.join(LAYER_TYPES)}.")
        if not isinstance(opts, dict):
            raise ConfigError(f"{loc}: the options of {kind!r} must be a mapping, not {opts!r}.")
        allowed = LAYER_TYPES[kind]
        unknown = sorted(set(opts) - set(allowed))
        if unknown:
            raise ConfigError(
                f"{loc} ({kind}) has unknown option(s) {', '.join(map(repr, unknown))}; "
                f"allowed: {', '.join(allowed) or 'none'}."
            )
        full = {**allowed, **opts}
        if kind == "pool" and full["stride"] is None:
            full["stride"] = full["size"]
        for key, value in full.items():
            if value is None and not (kind == "fc" and key == "units"):
                raise ConfigError(f"{loc} ({kind}) needs option {key!r}.")
            if value is None:
                continue
            low = 0 if key == "pad" else 1
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ConfigError(f"{loc} ({kind}) option {key!r} is {value!r}; use an integer >= {low}.")
            full[key] = int(value)
        out.append((kind, full))
    return out


def infer_shapes(
    input_shape: tuple[int, int, int],
    layers: list[tuple[str, dict[str, int]]],
    n_classes: int | None = None,
    where: str = "layers",
) -> list[tuple[str, tuple[int, ...], tuple[int, ...] | None]]:
    """Propagate an `(H, W, C)` shape through parsed layers.

    Returns `[(name, out_shape, weight_shape or None), ...]` with names `conv1, relu1, pool1,
    flatten1, fc1, ...` (numbered per type); conv weights are `(F, kh, kw, C)`, fc weights
    `(units, D)` (as `cifarflow.nn.layers`). An fc flattens its input itself. If
    `n_classes` is given the last layer must be an fc whose units are omitted or equal to it.
    """
    shape: tuple[int, ...] = tuple(int(s) for s in input_shape)
    counts: dict[str, int] = {}
    rows = []
    for i, (kind, o) in enumerate(layers):
        loc = f"{where}[{i}]"
        counts[kind] = counts.get(kind, 0) + 1
        name = f"{kind}{counts[kind]}"
        wshape = None
        last = i == len(layers) - 1
        if kind in ("conv", "pool") and len(shape) != 3:
            raise ConfigError(f"{loc} ({kind}) follows a flatten or fc layer; put conv and pool layers first.")
        try:
            if kind == "conv":
                h, w, c = shape
                ho, wo = conv_output_shape(h, w, o["size"], o["stride"], o["pad"])
                shape = (ho, wo, o["filters"])
                wshape = (o["filters"], o["size"], o["size"], c)
            elif kind == "pool":
                h, w, c = shape
                ho, wo = conv_output_shape(h, w, o["size"], o["stride"], 0)
                shape = (ho, wo, c)
        except ConfigError as err:
            raise ConfigError(f"{loc} ({kind}): {err}") from None
        if kind == "flatten":
            shape = (int(np.prod(shape)),)
        elif kind == "fc":
            units = o["units"]
            if units is None:
                if not (last and n_classes is not None):
                    raise ConfigError(f"{loc} (fc) needs option 'units' (only the final fc may omit it).")
                units = n_classes
            elif last and n_classes is not None and units != n_classes:
                raise ConfigError(
                    f"{loc} is the final fc with {units} units but there are {n_classes} "
                    "classes; set its units to the number of classes or omit them."
                )
            wshape = (units, int(np.prod(shape)))
            shape = (units,)
        rows.append((name, shape, wshape))
    if n_classes is not None and layers[-1][0] != "fc":
        raise ConfigError(
            f"{where} must end with an fc layer giving the {n_classes} class scores; append {{'fc': {{}}}}."
        )
    return rows


class LayerShape(NamedTuple):
    """One row of `layer_shapes`: output shape and number of weights (biases excluded)."""

    name: str
    out_shape: tuple[int, ...]
    n_weights: int


def layer_shapes(
    input_shape: tuple[int, int, int],
    layers: list,
    layout: str = "hwc",
    n_classes: int | None = None,
) -> list[LayerShape]:
    """Output shape and weight count of each layer, e.g. for a write-up's arithmetic.

    input_shape: `(H, W, C)` with `layout="hwc"` (the network's layout) or `(C, H, W)` with
    `layout="chw"`; output shapes are reported in the same layout. `layers` uses the
    `cifarflow.nn.convnet` format. `n_weights` counts weights only (conv `F*kh*kw*C`, fc
    `units*D`), not biases.
    """
    if layout not in ("hwc", "chw"):
        raise ConfigError(f"layout is {layout!r}; use 'hwc' or 'chw'.")
    if len(input_shape) != 3:
        raise ConfigError(f"input_shape {tuple(input_shape)} must have 3 entries ({layout}).")
    hwc = tuple(input_shape) if layout == "hwc" else tuple(input_shape[i] for i in (1, 2, 0))
    rows = []
    for name, shape, wshape in infer_shapes(hwc, parse_layers(layers), n_classes):
        if layout == "chw" and len(shape) == 3:
            shape = (shape[2], shape[0], shape[1])
        rows.append(LayerShape(name, shape, int(np.prod(wshape)) if wshape else 0))
    return rows


def writeup_example() -> list[LayerShape]:
    """The IFT6390 write-up's example, in its `C x H x W` notation.

    A 3x128x128 input, 32 kernels 8x8 stride 2 pad 3 -> 32x64x64 (6,144 weights); 2x2 max-pool
    -> 32x32x32; 64 kernels 3x3 pad 1 -> 64x32x32 with 32*64*3*3 = 18,432 weights.
    """
    layers = [
        {"conv": {"filters": 32, "size": 8, "stride": 2, "pad": 3}},
        {"pool": {"size": 2}},
        {"conv": {"filters": 64, "size": 3, "stride": 1, "pad": 1}},
    ]
    return layer_shapes((3, 128, 128), layers, layout="chw")


# --------------------------------------------------------------------------------------------
# conv2d
# --------------------------------------------------------------------------------------------


def _pad_hw(x: np.ndarray, pad: int) -> np.ndarray:
    if pad == 0:
        return x
    n, h, w, c = x.shape
    xp = np.zeros((n, h + 2 * pad, w + 2 * pad, c), dtype=x.dtype)
    xp[:, pad : pad + h, pad : pad + w] = x
    return xp


def _windows(xp: np.ndarray, kh: int, kw: int, s: int, ho: int, wo: int, writeable=False):
    """View `(N, Ho, Wo, kh, kw, C)` of the windows of `xp: (N, Hp, Wp, C)` (no copy)."""
    sn, sh, sw, sc = xp.strides
    return as_strided(
        xp,
        shape=(xp.shape[0], ho, wo, kh, kw, xp.shape[3]),
        strides=(sn, s * sh, s * sw, sh, sw, sc),
        writeable=writeable,
    )


def _patchify(x: np.ndarray, k: int, ho: int, wo: int) -> np.ndarray:
    """`(N*Ho*Wo, k*k*C)` rows of the non-overlapping k x k patches of `x: (N, H, W, C)`."""
    n, _, _, c = x.shape
    x = x[:, : ho * k, : wo * k]
    return x.reshape(n, ho, k, wo, k, c).transpose(0, 1, 3, 2, 4, 5).reshape(n * ho * wo, -1)


def conv2d_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0
) -> tuple[np.ndarray, tuple]:
    """2-D convolution (cross-correlation, as in CNN libraries) by im2col and one GEMM.

    x: (N, H, W, C); w: (F, kh, kw, C); b: (F,); zero padding `pad` on each side of H and W.
    Returns out: (N, Ho, Wo, F) with `(Ho, Wo) = conv_output_shape(H, W, (kh, kw), stride, pad)`
    and the cache for `conv2d_backward`. When stride == kh == kw and pad == 0 ("patchify")
    the im2col matrix is a reshape/transpose of x.
    """
    n, h, wd, c = x.shape
    f, kh, kw, cw = w.shape
    if cw != c:
        raise ValueError(f"x has {c} channels but w expects {cw}")
    ho, wo = conv_output_shape(h, wd, (kh, kw), stride, pad)
    if kh == kw == stride and pad == 0:
        cols = _patchify(x, stride, ho, wo)
    else:
        xp = _pad_hw(x, pad)
        cols = _windows(xp, kh, kw, stride, ho, wo).reshape(n * ho * wo, kh * kw * c)
    w2 = w.reshape(f, -1)
    out = cols @ w2.T
    out += b
    cache = (x.shape, cols, w, stride, pad)
    return out.reshape(n, ho, wo, f), cache


def conv2d_backward(
    dout: np.ndarray, cache: tuple, need_dx: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of `conv2d_forward`.

    dout: (N, Ho, Wo, F). Returns dx: (N, H, W, C) (None when `need_dx=False`, e.g. for a
    network's first layer), dw: (F, kh, kw, C), db: (F,).
    """
    x_shape, cols, w, stride, pad = cache
    n, h, wd, c = x_shape
    f, kh, kw, _ = w.shape
    _, ho, wo, _ = dout.shape
    d2 = dout.reshape(-1, f)
    dw = (d2.T @ cols).reshape(w.shape)
    db = d2.sum(axis=0)
    if not need_dx:
        return None, dw, db
    return _conv_dx(d2.reshape(n, ho, wo, f), w, x_shape, stride, pad), dw, db


def _conv_dx(dout: np.ndarray, w: np.ndarray, x_shape: tuple, stride: int, pad: int) -> np.ndarray:
    """dx: (N, H, W, C) of a convolution from dout: (N, Ho, Wo, F) (NHWC, any strides)."""
    n, h, wd, c = x_shape
    f, kh, kw, _ = w.shape
    _, ho, wo, _ = dout.shape
    d2 = dout.reshape(-1, f)
    if kh == kw == stride and pad == 0 and ho * stride == h and wo * stride == wd:
        dcols = d2 @ w.reshape(f, -1)  # (N*Ho*Wo, kh*kw*C), the patches of dx
        return dcols.reshape(n, ho, wo, kh, kw, c).transpose(0, 1, 3, 2, 4, 5).reshape(x_shape)
    if stride == 1 and (ho, wo) == (h, wd):
        return _conv_dx_same(d2, w, x_shape, pad)
    dxp = np.zeros((n, h + 2 * pad, wd + 2 * pad, c), dtype=d2.dtype)
    if stride >= kh and stride >= kw:  # windows do not overlap: scatter in one assignment
        dcols = d2 @ w.reshape(f, -1)
        _windows(dxp, kh, kw, stride, ho, wo, writeable=True)[...] = dcols.reshape(n, ho, wo, kh, kw, c)
    else:  # col2im, one GEMM per kernel offset (faster than one GEMM and strided adds)
        for i in range(kh):
            for j in range(kw):
                sl = dxp[:, i : i + stride * ho : stride, j : j + stride * wo : stride]
                sl += (d2 @ w[:, i, j, :]).reshape(n, ho, wo, c)
    dx = dxp[:, pad : pad + h, pad : pad + wd] if pad else dxp
    return dx


def _conv_dx_same(d2: np.ndarray, w: np.ndarray, x_shape: tuple, pad: int) -> np.ndarray:
    """dx of a stride-1 convolution whose output grid is its input grid ("same" padding).

    d2: (N*H*W, F) in NHWC row order. For kernel offset (i, j), `g = d2 @ w[:, i, j, :]` is
    added to dx shifted by `(i - pad) * W + (j - pad)` rows of the flattened (N*H*W, C) array:
    a contiguous add. The rows of g whose source pixel would fall outside the image (and so
    wrap into the neighbouring row or image) are zeroed first.
    """
    n, h, wd, c = x_shape
    f, kh, kw, _ = w.shape
    m = n * h * wd
    # kh == 2 * pad + 1 here, so offset (pad, pad) exists: its product initialises dx
    offsets = [(pad, pad)] + [(i, j) for i in range(kh) for j in range(kw) if (i, j) != (pad, pad)]
    dx = None
    for i, j in offsets:
        wt = np.ascontiguousarray(w[:, i, j, :].T)  # (C, F): a faster GEMM operand here
        g = d2 @ wt.T  # (N*H*W, C)
        if dx is None:
            dx = g
            continue
        di, dj = i - pad, j - pad  # dx pixel = output pixel + (di, dj)
        g4 = g.reshape(n, h, wd, c)
        if di < 0:
            g4[:, :-di] = 0
        elif di > 0:
            g4[:, h - di :] = 0
        if dj < 0:
            g4[:, :, :-dj] = 0
        elif dj > 0:
            g4[:, :, wd - dj :] = 0
        s = di * wd + dj
        if s >= 0:
            dx[s:] += g[: m - s]
        else:
            dx[:s] += g[-s:]
    return dx.reshape(x_shape)


# --------------------------------------------------------------------------------------------
# max-pool and flatten (ReLU is cifarflow.nn.layers.relu_*, re-exported here)
# --------------------------------------------------------------------------------------------


def maxpool_forward(x: np.ndarray, size: int = 2, stride: int | None = None) -> tuple[np.ndarray, tuple]:
    """Max-pool over `size x size` windows (no padding).

    x: (N, H, W, C); stride defaults to size. Returns out: (N, Ho, Wo, C) and the cache.
    """
    stride = size if stride is None else stride
    n, h, w, c = x.shape
    ho, wo = conv_output_shape(h, w, size, stride, 0)
    out = None
    for i in range(size):
        for j in range(size):
            v = x[:, i : i + stride * ho : stride, j : j + stride * wo : stride]
            out = v.copy() if out is None else np.maximum(out, v, out=out)
    return out, (x, out, size, stride)


def maxpool_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Gradient of `maxpool_forward`. dout: (N, Ho, Wo, C) -> dx: (N, H, W, C).

    Each window's gradient goes to its first maximum (row-major), so ties are not counted twice.
    """
    x, out, size, stride = cache
    _, ho, wo, _ = out.shape
    dx = np.zeros_like(x, dtype=dout.dtype)
    free = np.ones(out.shape, dtype=bool)  # windows whose maximum is not found yet
    for i in range(size):
        for j in range(size):
            sl = (slice(None), slice(i, i + stride * ho, stride), slice(j, j + stride * wo, stride))
            hit = np.equal(x[sl], out)
            hit &= free
            free ^= hit
            if stride >= size:  # each input belongs to at most one window
                np.multiply(dout, hit, out=dx[sl])
            else:
                dx[sl] += dout * hit
    return dx


def flatten_forward(x: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """x: (N, d1, ..., dk) -> out: (N, d1*...*dk) (row-major, so NHWC gives HWC rows)."""
    return x.reshape(x.shape[0], -1), x.shape


def flatten_backward(dout: np.ndarray, cache: tuple[int, ...]) -> np.ndarray:
    """dout: (N, D) -> dx with the forward input's shape."""
    return dout.reshape(cache)


# --------------------------------------------------------------------------------------------
# conv - ReLU - max-pool as one block (what `cifarflow.nn.convnet` runs for that layer sequence)
# --------------------------------------------------------------------------------------------


def conv_relu_pool_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    stride: int,
    pad: int,
    size: int,
    window_major: bool = False,
) -> tuple[np.ndarray, tuple]:
    """`maxpool(relu(conv2d(x, w, b)), size)` with non-overlapping windows (pool stride == size).

    x: (N, H, W, C); w: (F, kh, kw, C); b: (F,). Returns out: (N, Hp, Wp, F), with (Hp, Wp) the
    pool's output size over the conv's output, and the cache for `conv_relu_pool_backward`.

    The same numbers as the three layers, computed in a cheaper order:

    - bias and ReLU are applied after the pool, on a `size**2` times smaller array:
      max_i(z_i + b) = max_i(z_i) + b and max_i relu(z_i) = relu(max_i z_i) hold exactly in
      floating point (rounding is monotone), and the gradient reaches the same input: each
      window's first maximum in row-major order, as `maxpool_backward`, and nothing when the
      window's maximum is not positive (ReLU's subgradient 0). One exception: when two values
      of a window differ before the bias but are equal after it is added in float32 (z1 < z2,
      fl(z1 + b) == fl(z2 + b)), the three layers route the gradient to the first of the tied
      values, the fused block to the larger z; the forward values are still identical;
    - the conv's rows and columns that no pool window reads (the floor rule) are not computed;
    - with `window_major=True` the im2col rows are ordered by position inside the pool window
      first (`size * size` blocks of `N*Hp*Wp` rows), so the pool is an element-wise maximum of
      contiguous blocks (strided slices of a large NHWC array are several times slower in
      NumPy). Its backward pass would need the gradient reordered to NHWC for dx, which costs
      more than it saves, so `cifarflow.nn.convnet` uses it for a network's first layer only.
    """
    n, h, wd, c = x.shape
    f, kh, kw, cw = w.shape
    if cw != c:
        raise ValueError(f"x has {c} channels but w expects {cw}")
    ho, wo = conv_output_shape(h, wd, (kh, kw), stride, pad)
    hp, wp = conv_output_shape(ho, wo, size, size, 0)
    xp = _pad_hw(x, pad)
    win = _windows(xp, kh, kw, stride, hp * size, wp * size)  # (N, hp*s, wp*s, kh, kw, C)
    if window_major:
        win = win.reshape(n, hp, size, wp, size, kh, kw, c).transpose(2, 4, 0, 1, 3, 5, 6, 7)
    cols = win.reshape(-1, kh * kw * c)  # one copy
    z = cols @ w.reshape(f, -1).T
    if window_major:
        z = z.reshape(size * size, n * hp * wp, f)
        slots = list(z)
    else:
        z = z.reshape(n, hp * size, wp * size, f)
        slots = [z[:, i::size, j::size] for i in range(size) for j in range(size)]
    # running maximum over the window slots; wins[k - 1]: slot k beats all earlier slots
    q = slots[0].copy()
    wins = []
    for v in slots[1:]:
        wins.append(np.greater(v, q))
        np.maximum(q, v, out=q)
    q += b
    out = np.maximum(q, 0)
    cache = (x.shape, cols, w, stride, pad, size, (ho, wo), wins, out, window_major)
    return out.reshape(n, hp, wp, f), cache


def conv_relu_pool_backward(
    dout: np.ndarray, cache: tuple, need_dx: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of `conv_relu_pool_forward`. dout: (N, Hp, Wp, F).

    Returns dx: (N, H, W, C) (None when `need_dx=False`), dw: (F, kh, kw, C), db: (F,).
    """
    x_shape, cols, w, stride, pad, size, (ho, wo), wins, out, window_major = cache
    n = x_shape[0]
    f = w.shape[0]
    _, hp, wp, _ = dout.shape
    dq = dout * (out > 0).reshape(dout.shape)
    db = dq.sum(axis=(0, 1, 2))
    # each window's gradient goes to its winning slot: the last slot that beat all earlier ones
    if window_major:
        dq = dq.reshape(-1, f)
        dz = np.empty((size * size,) + dq.shape, dtype=dq.dtype)
        slots = list(dz)
    else:
        dz = np.empty((n, hp * size, wp * size, f), dtype=dq.dtype)
        slots = [dz[:, i::size, j::size] for i in range(size) for j in range(size)]
    for k in range(size * size - 1, 0, -1):
        np.multiply(dq, wins[k - 1], out=slots[k])
        dq -= slots[k]
    slots[0][...] = dq
    dw = (dz.reshape(-1, f).T @ cols).reshape(w.shape)
    if not need_dx:
        return None, dw, db
    if window_major:
        dz = dz.reshape(size, size, n, hp, wp, f).transpose(2, 3, 0, 4, 1, 5)
        dz = dz.reshape(n, hp * size, wp * size, f)
    if (ho, wo) != (hp * size, wp * size):  # conv rows/columns no window reads: no gradient
        d4 = np.zeros((n, ho, wo, f), dtype=dz.dtype)
        d4[:, : hp * size, : wp * size] = dz
        dz = d4
    return _conv_dx(dz, w, x_shape, stride, pad), dw, db


# --------------------------------------------------------------------------------------------
# 1-D convolution (the write-up's example)
# --------------------------------------------------------------------------------------------


def conv1d(x: np.ndarray, k: np.ndarray, mode: str = "full") -> np.ndarray:
    """True 1-D convolution `(x * k)[i] = sum_j x[j] k[i - j]` (kernel flipped), like np.convolve.

    x: (n,), k: (m,). Lengths: 'full' n + m - 1; 'same' max(n, m), centred as np.convolve;
    'valid' max(n, m) - min(n, m) + 1 (only positions where one fully overlaps the other).
    """
    x, k = np.asarray(x), np.asarray(k)
    if x.ndim != 1 or k.ndim != 1 or x.size == 0 or k.size == 0:
        raise ValueError("conv1d needs two non-empty 1-D arrays")
    if mode not in ("full", "same", "valid"):
        raise ValueError(f"mode is {mode!r}; use 'full', 'same' or 'valid'")
    if k.size > x.size:  # convolution commutes; slide the shorter one, as np.convolve does
        x, k = k, x
    n, m = x.size, k.size
    dtype = np.result_type(x, k)
    xp = np.zeros(n + 2 * (m - 1), dtype=dtype)
    xp[m - 1 : m - 1 + n] = x
    full = sliding_window_view(xp, m) @ k[::-1].astype(dtype, copy=False)  # (n + m - 1,)
    if mode == "full":
        return full
    if mode == "valid":
        return full[m - 1 : n]
    start = (m - 1) // 2
    return full[start : start + n]
