"""Typed training settings and state; the state round-trips through the checkpoint file."""

import numpy as np

from cifarflow.config import default_settings
from cifarflow.training.state import (
    TrainSettings,
    TrainState,
    read_checkpoint,
    write_checkpoint,
)


def variant(**kw):
    v = default_settings()
    v.update(name="v", model="softmax", loss="cross_entropy")
    v.update(kw)
    return v


def test_settings_read_the_variant_once_with_their_defaults():
    s = TrainSettings.from_variant(variant(momentum=None, early_stopping=None, select_best=False))
    assert s.momentum == 0.0 and s.nesterov is False and s.monitor is None and s.early_stopping is None
    s = TrainSettings.from_variant(variant(early_stopping={"patience": 3}))
    assert s.monitor == "val_loss" and s.early_stopping == {"patience": 3}
    s = TrainSettings.from_variant(variant(select_best=True, nesterov=True, momentum=0.9, **{"lambda": 0.5}))
    assert s.monitor == "val_acc" and s.nesterov is True and s.momentum == 0.9 and s.lam == 0.5


def state(best_params=True):
    rng = np.random.default_rng(0)
    params = {
        "W1": rng.standard_normal((3, 4)).astype(np.float32),
        "b1": np.zeros(3, np.float32),
    }
    return TrainState(
        epoch=2,
        step=40,
        params=params,
        opt_state={
            "W1": {"v": rng.standard_normal((3, 4)).astype(np.float32)},
            "b1": {},
        },
        history=[{"epoch": 0, "val_loss": float("nan")}, {"epoch": 1, "val_loss": 1.5}],
        best={"epoch": 1, "score": None, "bad_epochs": 1},
        best_params={k: v + 1 for k, v in params.items()} if best_params else None,
        seconds=3.25,
    )


def test_checkpoint_round_trips_the_state_bit_for_bit(tmp_path):
    for with_best in (True, False):
        s = state(with_best)
        write_checkpoint(tmp_path / "c.h5", s, "fp")
        got = read_checkpoint(tmp_path / "c.h5", "fp")
        assert isinstance(got, TrainState)
        assert (got.epoch, got.step, got.best, got.seconds) == (
            s.epoch,
            s.step,
            s.best,
            s.seconds,
        )
        assert got.history[1] == s.history[1] and np.isnan(got.history[0]["val_loss"])
        for k in s.params:
            assert got.params[k].tobytes() == s.params[k].tobytes() and got.params[k].dtype == s.params[k].dtype
        assert got.opt_state["W1"]["v"].tobytes() == s.opt_state["W1"]["v"].tobytes() and got.opt_state["b1"] == {}
        assert (got.best_params is None) == (not with_best)


def test_a_checkpoint_of_other_settings_or_a_broken_file_is_ignored(tmp_path):
    write_checkpoint(tmp_path / "c.h5", state(), "fp")
    assert read_checkpoint(tmp_path / "c.h5", "other") is None
    (tmp_path / "bad.h5").write_bytes(b"not hdf5")
    assert read_checkpoint(tmp_path / "bad.h5", "fp") is None
    assert read_checkpoint(tmp_path / "missing.h5", "fp") is None
