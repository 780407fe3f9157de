"""Epoch plans and augmentation: determinism, flips, shifts, materialisation."""

import numpy as np
import pytest

from cifarflow.data.augment import augment_batch, make_epoch_plan, materialise, mirror, plan_batch


def images(n=12, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)


def test_plan_is_a_pure_function_of_seed_and_epoch():
    a = make_epoch_plan(50, 3, seed=7, flip=0.5, translate=2)
    b = make_epoch_plan(50, 3, seed=7, flip=0.5, translate=2)
    c = make_epoch_plan(50, 4, seed=7, flip=0.5, translate=2)
    d = make_epoch_plan(50, 3, seed=8, flip=0.5, translate=2)
    assert np.array_equal(a.order, b.order) and np.array_equal(a.flip, b.flip) and np.array_equal(a.shift, b.shift)
    assert not np.array_equal(a.order, c.order)
    assert not np.array_equal(a.order, d.order)


def test_plan_order_is_a_permutation_and_fixed_without_shuffle():
    p = make_epoch_plan(100, 1, seed=0)
    assert sorted(p.order.tolist()) == list(range(100))
    q = make_epoch_plan(100, 5, seed=0, shuffle=False)
    assert np.array_equal(q.order, np.arange(100))


def test_plan_flip_rate_and_shift_range_follow_the_settings():
    p = make_epoch_plan(20000, 1, seed=1, flip=0.2, translate=3)
    assert abs(p.flip.mean() - 0.2) < 0.02
    assert p.shift.min() == -3 and p.shift.max() == 3
    q = make_epoch_plan(1000, 1, seed=1)
    assert not q.flip.any() and not q.shift.any()


def test_flip_mirrors_columns_and_leaves_the_input_alone():
    x = images(4)
    before = x.copy()
    out = augment_batch(x, np.array([True, False, True, False]), np.zeros((4, 2), dtype=np.int8))
    assert np.array_equal(out[0], x[0, :, ::-1])
    assert np.array_equal(out[1], x[1])
    assert np.array_equal(x, before)


def test_shift_moves_pixels_and_fills_with_zero():
    x = images(2)
    out = augment_batch(x, np.zeros(2, dtype=bool), np.array([[2, -1], [0, 0]], dtype=np.int8))
    # output pixel (i, j) comes from input (i - dy, j - dx)
    assert np.array_equal(out[0, 2:, :31], x[0, :30, 1:])
    assert not out[0, :2].any() and not out[0, :, 31].any()
    assert np.array_equal(out[1], x[1])


def test_materialised_epoch_equals_replayed_batches():
    x = images(37, seed=3)
    p = make_epoch_plan(37, 2, seed=5, flip=0.5, translate=3)
    mat = materialise(x, p, chunk=10)
    replay = np.concatenate([plan_batch(x, p, s, s + 8) for s in range(0, 37, 8)])
    assert np.array_equal(mat, replay)


@pytest.mark.parametrize("fill", ["edge", "reflect"])
def test_shift_fills_with_the_edge_or_the_mirror_image(fill):
    x = images(3, seed=4)
    flips = np.array([False, True, False])
    shifts = np.array([[2, -3], [-1, 1], [0, 0]], dtype=np.int8)
    out = augment_batch(x, flips, shifts, fill=fill)
    for b in range(3):
        src = x[b, :, ::-1] if flips[b] else x[b]
        dy, dx = shifts[b]
        padded = np.pad(src, ((3, 3), (3, 3), (0, 0)), mode=fill)
        # output pixel (i, j) is input pixel (i - dy, j - dx) of the padded (flipped) image
        np.testing.assert_array_equal(out[b], padded[3 - dy : 35 - dy, 3 - dx : 35 - dx])
    assert out[0, :2].any()  # nothing zero-filled where the image was shifted down
    np.testing.assert_array_equal(out[2], x[2])
    zero = augment_batch(x, flips, shifts)
    np.testing.assert_array_equal(out[:, 2:, :29][0], zero[0, 2:, :29])  # the image part is the same


def test_unknown_fill_is_refused():
    with pytest.raises(ValueError, match="fill"):
        augment_batch(images(1), np.zeros(1, dtype=bool), np.zeros((1, 2), dtype=np.int8), fill="wrap")


def test_fill_travels_with_the_plan_and_changes_no_random_draw(tmp_path):
    from cifarflow.data.plans import PlanFile, write_plan

    zero = make_epoch_plan(30, 1, seed=2, flip=0.5, translate=2)
    edge = make_epoch_plan(30, 1, seed=2, flip=0.5, translate=2, fill="edge")
    assert edge.fill == "edge" and zero.fill == "zero"
    for a in ("order", "flip", "shift"):
        np.testing.assert_array_equal(getattr(zero, a), getattr(edge, a))
    write_plan(tmp_path / "p.h5", [edge], {"fill": "edge"})
    stored = PlanFile(tmp_path / "p.h5").plan(1)
    x = images(30, seed=1)
    np.testing.assert_array_equal(plan_batch(x, stored, 0, 30), plan_batch(x, edge, 0, 30))
    assert not np.array_equal(plan_batch(x, stored, 0, 30), plan_batch(x, zero, 0, 30))


def _reference(x, flips, shifts, index, fill):
    """Each image on its own: flip, pad by its shift with numpy.pad, cut the window."""
    mode = {"zero": "constant", "edge": "edge", "reflect": "reflect"}[fill]
    out = []
    for b, i in enumerate(index):
        src = x[i, :, ::-1] if flips[b] else x[i]
        dy, dx = (int(v) for v in shifts[b])
        m = max(abs(dy), abs(dx))
        padded = np.pad(src, ((m, m), (m, m), (0, 0)), mode=mode)
        out.append(padded[m - dy : m - dy + 32, m - dx : m - dx + 32])
    return np.stack(out) if out else np.zeros((0, 32, 32, 3), dtype=np.uint8)


@pytest.mark.parametrize("fill", ["zero", "edge", "reflect"])
@pytest.mark.parametrize("translate", [0, 1, 3, 31])
def test_augmentation_equals_a_per_image_reference(fill, translate):
    """Whole-batch moves (zero fill) and grouped moves (other fills) against one image at a time:
    flip rates 0, 0.5 and 1, repeated and unsorted indices, black and white images, shifts up to
    the image size, batches of one."""
    if fill == "reflect" and translate == 31:
        translate = 30  # numpy.pad's reflect needs the shift below the image size minus one
    rng = np.random.default_rng(translate)
    x = images(20, seed=9)
    x[0], x[1] = 0, 255
    for rate in (0.0, 0.5, 1.0):
        for b in (1, 7, 45):
            index = rng.integers(0, 20, size=b)
            flips = rng.random(b) < rate
            shifts = rng.integers(-translate, translate + 1, size=(b, 2), dtype=np.int8)
            got = augment_batch(x, flips, shifts, index, fill=fill)
            assert got.dtype == np.uint8 and got.flags.c_contiguous
            np.testing.assert_array_equal(got, _reference(x, flips, shifts, index, fill))


def test_mirror_copies_the_bytes_of_the_reversed_columns():
    x = images(9, seed=6)
    for src in (x, x[::2], x[:, 3:29]):  # contiguous, strided, cropped
        np.testing.assert_array_equal(mirror(src), src[:, :, ::-1])
        assert mirror(src).flags.c_contiguous
    out = np.full(x.shape, 7, dtype=np.uint8)
    assert mirror(x, out=out) is out and np.array_equal(out, x[:, :, ::-1])


def test_an_index_outside_the_images_is_an_index_error_and_negative_ones_count_from_the_end():
    x = images(5)
    no_flip, no_shift = np.zeros(1, dtype=bool), np.zeros((1, 2), dtype=np.int8)
    for bad in (5, -6):
        with pytest.raises(IndexError):
            augment_batch(x, no_flip, no_shift, np.array([bad]))
    np.testing.assert_array_equal(augment_batch(x, no_flip, no_shift, np.array([-1])), x[[4]])
