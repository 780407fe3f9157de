"""Epoch plans and augmentation: determinism, flips, shifts, materialisation."""

import numpy as np

from cifarflow.augment import augment_batch, make_epoch_plan, materialise, plan_batch


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
