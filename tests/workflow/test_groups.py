"""The `group` setting (cluster job groups) changes no result: a changed group reruns nothing."""

from __future__ import annotations

import copy

import pytest

from workflow_utils import scheduled_jobs, snakemake, write_config

pytestmark = pytest.mark.workflow


def config(archive, group=None) -> dict:
    cfg = {
        "local_archive": str(archive),
        "splits": {"basic": {"type": "batches", "train": [1], "val": [2]}},
        "augmentations": {"none": {}},
        "defaults": {"epochs": 2, "batch_size": 50, "split": "basic"},
        "experiments": {"s": {"title": "groups", "variants": [{"name": "a", "model": "softmax"}]}},
    }
    if group:
        cfg = copy.deepcopy(cfg)
        cfg["experiments"]["s"]["defaults"] = {"group": group}
    return cfg


def test_changing_the_group_reruns_no_training(archive, tmp_path):
    target = "results/runs/a/seed0/metrics.json"
    write_config(tmp_path, config(archive))
    snakemake(tmp_path, "--cores", "1", target)
    write_config(tmp_path, config(archive, group="short"), name="grouped.yaml")
    assert scheduled_jobs(snakemake(tmp_path, "-n", target, config="grouped.yaml")) == {}
    # a real setting change of the same variant does rerun it (the dry run can see a change)
    changed = config(archive)
    changed["defaults"]["epochs"] = 3
    write_config(tmp_path, changed, name="changed.yaml")
    assert scheduled_jobs(snakemake(tmp_path, "-n", target, config="changed.yaml")).get("train") == 1


def test_a_bad_group_name_is_named_before_any_job(archive, tmp_path):
    write_config(tmp_path, config(archive, group="no spaces"))
    proc = snakemake(tmp_path, "-n", check=False)
    assert proc.returncode != 0
    assert "cifarflow: error:" in proc.stdout + proc.stderr and "group" in proc.stdout + proc.stderr
