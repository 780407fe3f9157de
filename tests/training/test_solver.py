"""The solver: learning, schedules, early stopping, divergence, checkpoint resume, plan equivalence."""

import copy

import numpy as np
import pytest

from cifarflow.config import default_settings
from cifarflow.data.augment import make_epoch_plan, materialise
from cifarflow.data.subset import Data
from cifarflow.nn.models import build_model
from cifarflow.nn.optim import learning_rate, sgd_update
from cifarflow.training.solver import (
    Normalizer,
    PlanSource,
    eval_subset,
    evaluate,
    format_duration,
    init_rng,
    time_left,
    train,
)


def learnable(n, k=4, seed=0):
    """Images whose class sets a colour offset: a linear model separates them quickly."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, size=n)
    templates = np.random.default_rng(99).integers(-40, 41, size=(k, 32, 32, 3))
    img = 128 + templates[y] + rng.normal(0, 30, size=(n, 32, 32, 3))
    return np.clip(img, 0, 255).astype(np.uint8), y.astype(np.int64)


def make_data(n=240, k=4):
    x, y = learnable(n + 80 + 80, k)
    return Data(x[:n], y[:n], x[n : n + 80], y[n : n + 80], x[n + 80 :], y[n + 80 :], tuple(f"c{i}" for i in range(k)))


def settings(**kw):
    s = default_settings()
    s.update(model="softmax", loss="cross_entropy", epochs=4, batch_size=20, eta=0.01, seed=0)
    s.update(kw)
    return s


def run(s, data, resume=None, checkpoint=None, materialised=False, flip=0.0, translate=0):
    model = build_model(s, data.train_images.shape[1:], len(data.class_names), init_rng(s["seed"]), np.float32)
    plans = {
        e: make_epoch_plan(len(data.train_labels), e, s["seed"], s["shuffle"], flip, translate)
        for e in range(1, s["epochs"] + 1)
    }
    mats = {e: materialise(data.train_images, p) for e, p in plans.items()} if materialised else None
    source = PlanSource(plans.__getitem__, mats.__getitem__ if mats else None)
    norm = Normalizer.from_images(data.train_images, s["normalize"])
    res = train(model, data, source, s, norm, log=lambda m: None, checkpoint=checkpoint, resume=resume)
    return model, res, norm


def test_normalizer_matches_a_float64_reference():
    x, _ = learnable(50)
    for mode in ("feature", "channel", "scale"):
        norm = Normalizer.from_images(x, mode, chunk=7)
        out = norm(x)
        f = x.reshape(50, -1).astype(np.float64)
        if mode == "feature":
            ref = (f - f.mean(0)) / np.maximum(f.std(0), 1e-8)
        elif mode == "channel":
            c = x.reshape(-1, 3).astype(np.float64)
            ref = ((x.astype(np.float64) - c.mean(0)) / c.std(0)).reshape(50, -1)
        else:
            ref = f / 255
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("mode", ["feature", "channel", "scale"])
def test_normalizer_into_a_buffer_equals_the_float32_formula_bit_for_bit(mode):
    """norm(x, out) and norm(x) both give (float32(x) - mean) * inv_std exactly, on images with
    0 and 255, constant pixels (std floored at 1e-8) and a buffer holding NaN beforehand."""
    x, _ = learnable(40, seed=3)
    x[0], x[1] = 0, 255
    x[:, 5, 7, :] = 17  # a pixel of zero spread: its 1/std is 1e8
    norm = Normalizer.from_images(x, mode)
    ref = x.reshape(40, -1).astype(np.float32)
    ref -= norm.mean
    ref *= norm.inv_std
    buf = norm.buffer(64)
    buf[:] = np.nan
    got = norm(x, buf[:40])
    assert np.shares_memory(got, buf) and got.dtype == np.float32
    assert got.tobytes() == ref.tobytes()
    assert norm(x).tobytes() == ref.tobytes()
    assert norm(x[:, :, ::-1], buf[:40]).tobytes() == norm(np.ascontiguousarray(x[:, :, ::-1])).tobytes()


class FreshArrays(Normalizer):
    """A Normalizer that ignores `out`: every call returns a new array."""

    def __call__(self, images, out=None):
        return super().__call__(images)


@pytest.mark.parametrize("spec", [{}, {"model": "mlp", "hidden": [8], "momentum": 0.9, "test_flip": True}])
def test_reusing_one_batch_buffer_gives_the_results_of_fresh_arrays(spec):
    data = make_data()
    s = settings(epochs=3, **spec)
    n = len(data.train_labels)
    results = []
    for cls in (Normalizer, FreshArrays):
        model = build_model(s, data.train_images.shape[1:], len(data.class_names), init_rng(s["seed"]), np.float32)
        source = PlanSource(lambda e: make_epoch_plan(n, e, s["seed"], s["shuffle"], 0.5, 2))
        norm = cls.from_images(data.train_images, s["normalize"])
        res = train(model, data, source, s, norm, log=lambda m: None)
        results.append(
            ({k: v.tobytes() for k, v in res.params.items()}, repr([{**r, "seconds": 0} for r in res.history]))
        )
    assert results[0] == results[1]


def test_schedules_give_the_documented_rates():
    s = settings(schedule="step", eta=0.1, step_every=10, step_factor=0.1)
    assert learning_rate(s, 0, 1) == pytest.approx(0.1)
    assert learning_rate(s, 0, 11) == pytest.approx(0.01)
    assert learning_rate(s, 0, 21) == pytest.approx(0.001)
    c = settings(schedule="cyclic", n_s=100, eta_min=1e-5, eta_max=1e-1)
    assert learning_rate(c, 0, 1) == pytest.approx(1e-5)
    assert learning_rate(c, 100, 1) == pytest.approx(1e-1)
    assert learning_rate(c, 50, 1) == pytest.approx((1e-5 + 1e-1) / 2)
    assert learning_rate(c, 200, 1) == pytest.approx(1e-5)
    assert learning_rate(c, 150, 1) == pytest.approx((1e-5 + 1e-1) / 2)


def test_step_schedule_changes_the_rate_exactly_after_every_step_every_epochs():
    """The boundary epochs: with step_every 10, epochs 1..10 run at eta, 11..20 at eta * factor."""
    s = settings(schedule="step", eta=0.5, step_every=10, step_factor=0.5)
    want = {1: 0.5, 9: 0.5, 10: 0.5, 11: 0.25, 19: 0.25, 20: 0.25, 21: 0.125, 30: 0.125, 31: 0.0625}
    assert {e: learning_rate(s, 0, e) for e in want} == want  # powers of two: exact


def test_the_solver_uses_the_step_schedule_of_each_epoch():
    """The history's lr column (the rate of each epoch's first step) follows the schedule: an
    off-by-one in the epoch the solver passes would shift the drop by one epoch."""
    data = make_data()
    _, res, _ = run(settings(epochs=5, schedule="step", eta=0.5, step_every=2, step_factor=0.5), data)
    assert [r["lr"] for r in res.history[1:]] == [0.5, 0.5, 0.25, 0.25, 0.125]


def test_the_log_lines_show_each_epochs_rate_and_epoch_0_the_rate_epoch_1_starts_with():
    """Epoch 0 takes no step (its history lr is NaN): its log line shows the rate of epoch 1's first
    step instead of `lr nan`; the other lines show their own epoch's first rate."""
    data = make_data()
    s = settings(epochs=3, schedule="cyclic", eta_min=0.001, eta_max=0.1, n_s=5)
    model = build_model(s, data.train_images.shape[1:], len(data.class_names), init_rng(0), np.float32)
    plans = {e: make_epoch_plan(len(data.train_labels), e, 0, True, 0.0, 0) for e in (1, 2, 3)}
    lines = []
    res = train(
        model,
        data,
        PlanSource(plans.__getitem__),
        s,
        Normalizer.from_images(data.train_images, "feature"),
        log=lines.append,
    )
    epoch_lines = [m for m in lines if m.startswith("epoch ")]
    assert len(epoch_lines) == 4 and not any("nan" in m for m in epoch_lines)
    assert epoch_lines[0].startswith("epoch   0  lr 0.001 (from epoch 1)  train loss")
    for e in (1, 2, 3):
        assert epoch_lines[e].startswith(f"epoch {e:3d}  lr {res.history[e]['lr']:.3g}  train loss")
    # the time left while epochs remain (the mean pace so far times the epochs to go), not after the last
    assert all(" left" in m for m in epoch_lines[1:3]) and " left" not in epoch_lines[0] + epoch_lines[3]


def test_time_left_is_the_mean_pace_times_the_epochs_to_go():
    assert time_left(6.0, 3, 7) == pytest.approx(14.0)
    assert time_left(5.0, 0, 4) is None and time_left(6.0, 3, 0) == 0.0
    assert [format_duration(x) for x in (0.2, 12.4, 185.0, 7300.0)] == ["under 1s", "12s", "3m05s", "2h01m"]


def test_nesterov_momentum_equals_the_look_ahead_formulation():
    """sgd_update with nesterov keeps the look-ahead point w = theta + mu v (Bengio et al. 2013).
    Reference: Sutskever's form on f(theta) = 0.5 a theta^2, gradient taken at theta + mu v:
    v <- mu v - lr f'(theta + mu v); theta <- theta + v."""
    a, lr, mu = np.array([0.5, 2.0, -1.0]), 0.1, 0.9
    theta, v = np.array([1.0, -2.0, 0.5]), np.zeros(3)
    w, state = theta.copy(), {}  # at the start v = 0, so the look-ahead point is theta
    for _ in range(6):
        v = mu * v - lr * a * (theta + mu * v)
        theta = theta + v
        w, state = sgd_update(w, a * w, state, lr, momentum=mu, nesterov=True)
        np.testing.assert_allclose(w, theta + mu * v, rtol=1e-12)
        np.testing.assert_allclose(state["v"], v, rtol=1e-12)


def test_nesterov_two_steps_by_hand():
    """Constant gradient 1, lr 0.1, mu 0.9: v1 = -0.1, w1 = 0.9 v1 - 0.1 = -0.19; v2 = -0.19,
    w2 = w1 + 0.9 v2 - 0.1 = -0.461 (plain momentum gives -0.29)."""
    w, state, g = np.zeros(2), {}, np.ones(2)
    w, state = sgd_update(w, g, state, 0.1, momentum=0.9, nesterov=True)
    np.testing.assert_allclose(w, -0.19, rtol=1e-12)
    w, state = sgd_update(w, g, state, 0.1, momentum=0.9, nesterov=True)
    np.testing.assert_allclose(w, -0.461, rtol=1e-12)


def test_momentum_accumulates_velocity():
    w = np.zeros(3, dtype=np.float32)
    state = {}
    g = np.ones(3, dtype=np.float32)
    w, state = sgd_update(w, g, state, 0.1, momentum=0.9)
    w, state = sgd_update(w, g, state, 0.1, momentum=0.9)
    np.testing.assert_allclose(w, -0.1 - 0.19, rtol=1e-6)
    assert w.dtype == np.float32


@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_overwriting_the_gradient_gives_the_same_weights_bit_for_bit(momentum, nesterov):
    """overwrite_dw=True computes lr * dw into dw: the same numbers over several steps, with
    zeros, subnormals, huge and mixed-sign values; without it dw is left alone."""
    rng = np.random.default_rng(5)
    special = np.array([0.0, -0.0, 1e-42, -3e-39, 3e38, -1e30, 1.0, np.pi], dtype=np.float32)
    w_a = np.concatenate([rng.standard_normal(40).astype(np.float32), special])
    w_b = w_a.copy()
    state_a, state_b = {}, {}
    for step in range(4):
        g = np.concatenate([rng.standard_normal(40).astype(np.float32) * 10.0**step, special[::-1]])
        kept = g.copy()
        with np.errstate(over="ignore", invalid="ignore"):
            w_a, state_a = sgd_update(w_a, g, state_a, 0.05 + 0.01 * step, momentum, nesterov)
            assert g.tobytes() == kept.tobytes()
            w_b, state_b = sgd_update(w_b, g, state_b, 0.05 + 0.01 * step, momentum, nesterov, overwrite_dw=True)
        assert w_a.tobytes() == w_b.tobytes()
        assert state_a.keys() == state_b.keys() and all(state_a[k].tobytes() == state_b[k].tobytes() for k in state_a)
    assert not np.array_equal(g, kept)  # dw was the scratch space


def test_training_learns_a_separable_problem():
    data = make_data()
    model, res, norm = run(settings(epochs=6), data)
    assert res.history[-1]["val_acc"] > 0.9
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
    assert [r["epoch"] for r in res.history] == list(range(7))


def test_training_twice_gives_bit_identical_weights():
    data = make_data()
    m1, _, _ = run(settings(momentum=0.9), data, flip=0.5, translate=2)
    m2, _, _ = run(settings(momentum=0.9), data, flip=0.5, translate=2)
    for k in m1.params:
        assert m1.params[k].tobytes() == m2.params[k].tobytes()


def test_materialised_plan_gives_bit_identical_weights():
    data = make_data()
    m1, _, _ = run(settings(), data, flip=0.5, translate=3)
    m2, _, _ = run(settings(), data, materialised=True, flip=0.5, translate=3)
    for k in m1.params:
        assert m1.params[k].tobytes() == m2.params[k].tobytes()


def test_resume_from_a_checkpoint_ends_bit_identical():
    data = make_data()
    s = settings(epochs=5, momentum=0.9, early_stopping={"monitor": "val_acc", "patience": 50})
    states = {}

    def keep(state):  # what write_checkpoint does: a snapshot, not references
        states[state.epoch] = copy.deepcopy(state)

    full, res_full, _ = run(s, data, checkpoint=keep)
    resumed, res_resumed, _ = run(s, data, resume=states[2])
    for k in full.params:
        assert full.params[k].tobytes() == resumed.params[k].tobytes()
    assert [r["val_loss"] for r in res_full.history] == [r["val_loss"] for r in res_resumed.history]
    assert res_resumed.resumed_from == 2


def test_early_stopping_stops_and_restores_the_best_epoch():
    data = make_data()
    # a learning rate far too high makes the validation loss go up after a while
    s = settings(epochs=30, eta=2.0, early_stopping={"monitor": "val_loss", "patience": 2})
    model, res, norm = run(s, data)
    assert res.stopped_early
    assert res.stopped_epoch == res.best_epoch + 2
    best = res.history[res.best_epoch]
    assert best["val_loss"] == min(r["val_loss"] for r in res.history)
    now = evaluate(model, data.val_images, data.val_labels, norm, 0.0)
    assert now["loss"] == pytest.approx(best["val_loss"], rel=1e-5)


def test_divergence_is_recorded_with_its_epoch():
    data = make_data()
    model, res, _ = run(settings(epochs=5, eta=1e37), data)
    assert res.diverged
    assert res.diverged_epoch is not None and 1 <= res.diverged_epoch <= 5
    assert all(np.isfinite(v).all() for v in model.params.values())


def test_test_time_flip_averages_the_scores_of_an_image_and_its_mirror():
    from cifarflow.training.solver import predict_all

    data = make_data()
    model, _, norm = run(settings(epochs=1), data)
    x = data.test_images[:5]
    plain = model.scores(norm(x))
    mirrored = model.scores(norm(x[:, :, ::-1]))
    probs = predict_all(model, x, norm, flip=True)
    expected = np.exp((plain + mirrored) / 2)
    np.testing.assert_allclose(probs, expected / expected.sum(1, keepdims=True), rtol=1e-5)
    assert not np.allclose(probs, predict_all(model, x, norm))


def test_an_evaluation_subset_changes_the_train_columns_only_never_the_weights():
    data = make_data(n=300)
    full, res_full, _ = run(settings(momentum=0.9, eval_train="all"), data, flip=0.5, translate=2)
    sub, res_sub, _ = run(settings(momentum=0.9, eval_train=60), data, flip=0.5, translate=2)
    for k in full.params:
        assert full.params[k].tobytes() == sub.params[k].tobytes()
    for col in ("val_loss", "val_acc", "weight_norm2", "lr"):
        assert [r[col] for r in res_full.history] == pytest.approx([r[col] for r in res_sub.history], nan_ok=True)
    assert [r["train_loss"] for r in res_full.history] != [r["train_loss"] for r in res_sub.history]
    _, res_none, _ = run(settings(momentum=0.9, eval_train=None), data, flip=0.5, translate=2)
    assert [r["train_loss"] for r in res_none.history] == [r["train_loss"] for r in res_full.history]


def test_the_evaluation_subset_is_seeded_stratified_and_sorted():
    labels = np.repeat(np.arange(4), [500, 300, 150, 50])
    np.random.default_rng(3).shuffle(labels)
    idx = eval_subset(labels, 100, seed=7)
    assert np.array_equal(idx, eval_subset(labels, 100, seed=7))
    assert not np.array_equal(idx, eval_subset(labels, 100, seed=8))
    assert len(idx) == 100 and len(np.unique(idx)) == 100 and np.all(np.diff(idx) > 0)
    assert np.bincount(labels[idx], minlength=4).tolist() == [50, 30, 15, 5]
    # shares that do not divide evenly: largest remainders first, the total is exact
    odd = eval_subset(labels, 7, seed=0)
    counts = np.bincount(labels[odd], minlength=4)
    assert counts.sum() == 7 and np.all(np.abs(counts - 7 * np.array([500, 300, 150, 50]) / 1000) < 1)
    for whole in (None, "all", 1000, 5000):
        assert eval_subset(labels, whole, seed=0) is None


def test_the_train_columns_on_the_subset_match_a_direct_computation():
    data = make_data(n=300)
    s = settings(eval_train=40, **{"lambda": 0.01})
    model, res, norm = run(s, data)
    idx = eval_subset(data.train_labels, 40, s["seed"])
    x = data.train_images[idx].reshape(40, -1).astype(np.float64)
    x = (x - norm.mean) * norm.inv_std
    w, b = model.params["W1"].astype(np.float64), model.params["b1"].astype(np.float64)
    z = x @ w.T + b
    logp = z - z.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    y = data.train_labels[idx]
    loss = -logp[np.arange(40), y].mean()
    last = res.history[-1]
    assert last["train_loss"] == pytest.approx(loss, rel=1e-5)
    assert last["train_cost"] == pytest.approx(loss + 0.01 * np.sum(w * w), rel=1e-5)
    assert last["train_acc"] == np.mean(z.argmax(1) == y)


@pytest.mark.parametrize(
    "model, loss, flip",
    [
        ("softmax", "cross_entropy", False),
        ("softmax", "cross_entropy", True),
        ("sigmoid", "multi_bce", True),
        ("mlp", "mse", False),
        ("mlp", "cross_entropy", True),
    ],
)
def test_one_pass_evaluation_equals_the_separate_evaluate_and_predict_all_bit_for_bit(model, loss, flip):
    from cifarflow.training.solver import evaluate_and_predict, predict_all

    data = make_data(n=200)
    trained, _, norm = run(settings(model=model, loss=loss, hidden=[16], epochs=2), data)
    # 80 test images in chunks of 30: a last chunk shorter than the others
    metrics, probs = evaluate_and_predict(trained, data.test_images, data.test_labels, norm, 0.01, chunk=30, flip=flip)
    assert metrics == evaluate(trained, data.test_images, data.test_labels, norm, 0.01, chunk=30, flip=flip)
    separate = predict_all(trained, data.test_images, norm, chunk=30, flip=flip)
    assert probs.dtype == separate.dtype and probs.tobytes() == separate.tobytes()
