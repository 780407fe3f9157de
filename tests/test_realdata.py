"""The workflow through the real Snakemake on the real CIFAR-10 images (../shared/data).

Skipped when the shared archive is absent (CI, which has it, fails instead of skipping).
"""

from __future__ import annotations

import copy
import json
import time

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml

from cifarflow import CIFAR10_CLASSES
from cifarflow.config import validate_config

from workflow_utils import REPO, SHARED_ARCHIVE, require_or_skip, snakemake, write_config

pytestmark = [pytest.mark.realdata, pytest.mark.workflow]


def shipped_config(**changes) -> dict:
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["local_archive"] = str(SHARED_ARCHIVE)
    cfg.update(changes)
    return cfg


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    require_or_skip(SHARED_ARCHIVE.exists(), f"the shared CIFAR-10 archive {SHARED_ARCHIVE}")
    wd = tmp_path_factory.mktemp("real")
    quick = yaml.safe_load((REPO / "config" / "quick.yaml").read_text())
    write_config(wd, shipped_config(**quick))
    return wd


@pytest.fixture(scope="module")
def splits(real):
    t0 = time.perf_counter()
    snakemake(real, "--cores", "2", "results/data/split_full.h5", "results/data/split_basic.h5")
    return time.perf_counter() - t0


def test_real_archive_becomes_hdf5_with_the_official_split(real, splits):
    print(f"archive -> cifar10.h5 -> two split files: {splits:.1f}s")
    with h5py.File(real / "results" / "data" / "cifar10.h5") as f:
        assert f["train/images"].shape == (50000, 32, 32, 3) and f["train/images"].dtype == np.uint8
        assert f["test/images"].shape == (10000, 32, 32, 3)
        assert [c.decode() if isinstance(c, bytes) else c for c in f.attrs["class_names"]] == list(CIFAR10_CLASSES)
        assert np.bincount(f["train/labels"][()]).tolist() == [5000] * 10
        assert np.bincount(f["test/labels"][()]).tolist() == [1000] * 10
        assert f.attrs["source_sha256"] == "45b041e867f5a40f79bfde38d3dd1fd511103d50068c1afecf6445e25234d4db"
        batches = f["train/batch"][()]
        for b in range(1, 6):  # pseudo-batches of 10,000, stratified
            assert np.bincount(f["train/labels"][()][batches == b]).tolist() == [1000] * 10
    with h5py.File(real / "results" / "data" / "split_full.h5") as f:
        assert f["train/images"].shape[0] == 49000 and f["val/images"].shape[0] == 1000
        assert np.bincount(f["val/labels"][()]).tolist() == [100] * 10
        assert f["stats/mean"].shape == (32, 32, 3)
    with h5py.File(real / "results" / "data" / "split_basic.h5") as f:
        assert f["train/images"].shape[0] == 10000 and f["val/images"].shape[0] == 10000


def test_softmax_for_two_epochs_on_the_full_split_beats_chance_clearly(real, splits):
    cfg = shipped_config(
        experiments={"check": {"variants": [{"name": "sm2", "model": "softmax", "epochs": 2, "eta": 0.01}]}},
        run=None,  # the shipped `run` names the shipped sets
    )
    write_config(real, cfg, "sm2.yaml")
    snakemake(real, "--cores", "2", "results/runs/sm2/seed0/metrics.json", config="sm2.yaml")
    m = json.loads((real / "results" / "runs" / "sm2" / "seed0" / "metrics.json").read_text())
    print(f"softmax, 2 epochs, full split: test accuracy {100 * m['test_acc']:.2f}%")
    assert m["n_train"] == 49000
    assert m["test_acc"] > 0.25


def test_quick_config_runs_every_set_end_to_end(real, splits):
    t0 = time.perf_counter()
    snakemake(real, "--cores", "2")
    print(f"quick config, every set: {time.perf_counter() - t0:.0f}s")
    res = real / "results"
    cfg = yaml.safe_load((real / "config.yaml").read_text())
    selected = cfg["run"] or list(cfg["experiments"])  # the opt-in search sets are not in the default run
    for set_name in selected:
        exp = cfg["experiments"][set_name]
        assert (res / "tables" / set_name / "summary.csv").exists(), set_name
        for comp in exp.get("comparisons", []):
            assert (res / "figures" / set_name / "comparisons" / f"{comp['name']}.png").stat().st_size > 1000
    assert (res / "summary.md").exists()
    # the quick config runs replicates: every variant has its seeds' runs, the aggregated tables
    # count them, the paired tables and the answers to every question exist
    _, variants, _ = validate_config(copy.deepcopy(cfg))
    summary = pd.read_csv(res / "tables" / "summary.csv").set_index("variant")
    assert sorted(summary.index) == sorted(variants)
    for name, v in variants.items():
        assert summary.loc[name, "n_seeds"] == summary.loc[name, "test_acc_n"] == len(v["seeds"])
        assert sorted(p.name for p in (res / "runs" / name).iterdir()) == sorted(f"seed{s}" for s in v["seeds"])
    assert (summary["n_seeds"] >= 3).any()
    answers = (res / "answers.md").read_text()
    for set_name in selected:
        for q in cfg["experiments"][set_name].get("questions", []):
            assert f"**{q['name']}**" in answers, q["name"]
    assert answers.strip() in (res / "summary.md").read_text()
    assert list(res.glob("tables/*/paired_*.csv")) and list(res.glob("figures/*/comparisons/*_paired.png"))
    snakemake(real, "--report", "report.html")
    assert (real / "report.html").stat().st_size > 1_000_000
