"""Replicate seeds end to end through the real Snakemake (issue 16): one run per seed, aggregated
tables checked against an independent computation, paired tests, answers, the report, and
selection on validation only."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from workflow_utils import (
    REPO,
    SNAKEMAKE,
    params_digest,
    run_fingerprint,
    run_path,
    scheduled_jobs,
    small_config,
    snakemake,
    write_config,
)

pytestmark = pytest.mark.workflow


def replicate_config(archive: Path, soft_seeds=(0, 1)) -> dict:
    cfg = small_config(archive)
    cfg["statistics"] = {"alpha": 0.05, "confidence": 0.95, "n_resamples": 199, "seed": 0}
    cfg["experiments"] = {
        "rep": {
            "variants": [
                {"name": "soft", "model": "softmax", "seeds": list(soft_seeds)},
                {"name": "sig", "model": "sigmoid", "augmentation": "fliptrans", "eta": 0.05, "replicates": 2},
                {"name": "lg", "model": "softmax", "grid": {"lambda": [0, 0.1]}, "seeds": [0, 1]},
                {"name": "logi", "model": "logistic", "classes": ["cat", "dog"], "early_stopping": {"patience": 2}},
            ],
            "comparisons": [
                {"name": "pc", "type": "per_class", "variants": ["soft", "sig"]},
                {"name": "lam", "type": "vs_lambda", "grid": "lg"},
                {"name": "cv", "type": "curves", "variants": ["soft", "sig"], "paired": False},
                {"name": "tp", "type": "true_class_prob", "variants": ["soft", "sig"], "paired": False},
            ],
            "pairs": [["soft", "lg-lambda0.1"]],
            "questions": [
                {"name": "q-sm", "kind": "softmax_vs_sigmoid", "variants": ["soft", "sig"]},
                {"name": "q-lam", "kind": "lambda", "grid": "lg"},
            ],
        }
    }
    return cfg


SEEDS = {"soft": [0, 1], "sig": [0, 1], "lg-lambda0": [0, 1], "lg-lambda0.1": [0, 1], "logi": [0]}


@pytest.fixture(scope="module")
def rep(tmp_path_factory, archive) -> Path:
    wd = tmp_path_factory.mktemp("replicates")
    write_config(wd, replicate_config(archive))
    snakemake(wd, "--cores", "2")
    return wd


def metrics_of(wd: Path, name: str, seed: int) -> dict:
    return json.loads((run_path(wd, name, seed) / "metrics.json").read_text())


def test_every_replicate_is_its_own_run_with_predictable_paths(rep):
    for name, seeds in SEEDS.items():
        for s in seeds:
            run = run_path(rep, name, s)
            for f in ("weights.h5", "history.csv", "metrics.json", "predictions.h5"):
                assert (run / f).stat().st_size > 0, run / f
            assert (rep / "logs" / "train" / name / f"seed{s}.log").stat().st_size > 0
            assert (rep / "benchmarks" / "train" / name / f"seed{s}.tsv").exists()
            assert metrics_of(rep, name, s)["config"]["seed"] == s
            assert "seeds" not in metrics_of(rep, name, s)["config"]
        assert sorted(p.name for p in (rep / "results" / "runs" / name).iterdir()) == [f"seed{s}" for s in seeds]
    # each seed has its own initialisation and epoch plan (the split is shared)
    a, b = metrics_of(rep, "soft", 0), metrics_of(rep, "soft", 1)
    assert a["plan"]["seed"] == 0 and b["plan"]["seed"] == 1 and a["data_sha256"] == b["data_sha256"]
    assert params_digest(run_path(rep, "soft", 0) / "weights.h5") != params_digest(
        run_path(rep, "soft", 1) / "weights.h5"
    )
    bench = pd.read_csv(rep / "results" / "tables" / "benchmarks.csv")
    assert "soft/seed1" in set(bench["job"]) and set(bench["rule"]) == {"train"}


def test_seed_of_a_replicate_config_equals_the_single_seed_run(rep, tmp_path, archive):
    """Only the path changes: seed 0 of two replicates is bit-identical to a one-seed config's run."""
    cfg = replicate_config(archive)
    cfg["experiments"]["rep"]["variants"][0].pop("seeds")
    write_config(tmp_path, cfg)
    snakemake(tmp_path, "--cores", "2", str(run_path(Path("."), "soft", 0) / "weights.h5"))
    assert run_fingerprint(tmp_path, "soft", 0) == run_fingerprint(rep, "soft", 0)


def test_adding_a_seed_reruns_nothing_else(rep, archive):
    write_config(rep, replicate_config(archive, soft_seeds=(0, 1, 2)), name="more.yaml")
    proc = snakemake(rep, "-n", config="more.yaml")
    jobs = scheduled_jobs(proc)
    assert jobs["train"] == 1 and jobs.get("plan_epochs") == 1, jobs
    text = proc.stdout + proc.stderr
    assert "results/runs/soft/seed2/weights.h5" in text  # the one train job is the new seed
    # the set's figures and paired tables redo (one job each: every figure, every table of the set)
    assert jobs.get("figures_rep") == 1 and jobs.get("paired_rep") == 1, jobs


def _independent(values, confidence=0.95):
    x = np.asarray(values, dtype=float)
    m = x.mean()
    if len(x) < 2:
        return m, np.nan, np.nan, np.nan
    sd = x.std(ddof=1)
    if sd == 0:
        return m, 0.0, m, m
    lo, hi = st.t.interval(confidence, len(x) - 1, loc=m, scale=sd / np.sqrt(len(x)))
    return m, sd, lo, hi


def test_aggregated_table_equals_an_independent_computation(rep):
    table = pd.read_csv(rep / "results" / "tables" / "rep" / "summary.csv").set_index("variant")
    per_seed = pd.read_csv(rep / "results" / "tables" / "rep" / "per_seed.csv")
    assert len(per_seed) == sum(len(s) for s in SEEDS.values())
    for name, seeds in SEEDS.items():
        runs = [metrics_of(rep, name, s) for s in seeds]
        assert table.loc[name, "n_seeds"] == len(seeds)
        for stem in ("test_acc", "best_val_acc", "test_loss", "best_epoch"):
            m, sd, lo, hi = _independent([r[stem] for r in runs])
            assert table.loc[name, f"{stem}_mean"] == pytest.approx(m, rel=1e-12, abs=1e-12)
            assert table.loc[name, f"{stem}_n"] == len(seeds)
            if len(seeds) > 1 and sd > 0:
                assert table.loc[name, f"{stem}_std"] == pytest.approx(sd, rel=1e-9)
                assert table.loc[name, f"{stem}_lo"] == pytest.approx(lo, rel=1e-9)
                assert table.loc[name, f"{stem}_hi"] == pytest.approx(hi, rel=1e-9)
    md = (rep / "results" / "tables" / "rep" / "summary.md").read_text()
    spread = 0
    for name in ("soft", "sig", "lg-lambda0", "lg-lambda0.1"):
        for stem in ("test_acc", "best_val_acc", "test_loss"):
            m, sd, lo, hi = _independent([metrics_of(rep, name, s)[stem] for s in (0, 1)])
            scale, digits = (1, 3) if stem == "test_loss" else (100, 2)
            half = 0.0 if sd == 0 else hi - m
            assert f"{scale * m:.{digits}f} ± {scale * half:.{digits}f} (n=2)" in md, (name, stem)
            spread += sd > 0
    assert spread  # some number differs between the seeds (the interval is not trivially 0)
    assert "half-width of the 95% Student t" in md and "validation numbers only" in md
    assert "(n=1)" in md  # logi: one seed, no interval
    per_class = pd.read_csv(rep / "results" / "tables" / "rep" / "per_class.csv").set_index("variant")
    cls = metrics_of(rep, "soft", 0)["class_names"][3]
    expect = np.mean([metrics_of(rep, "soft", s)["per_class_acc"][cls] for s in (0, 1)])
    assert per_class.loc["soft", f"{cls}_mean"] == pytest.approx(expect)


def test_paired_tables_answers_and_figures_exist(rep):
    res = rep / "results"
    for table, n_pairs in (("pc", 1), ("lam", 1), ("rep-pairs", 1)):
        df = pd.read_csv(res / "tables" / "rep" / f"paired_{table}.csv")
        assert len(df) == n_pairs and set(df["verdict"]) <= {"A better", "B better", "equivalent", "undecided"}
        assert set(df["img_verdict"]) <= {"A better", "B better", "no detectable difference"}  # secondary
        assert "McNemar" in (res / "tables" / "rep" / f"paired_{table}.md").read_text()
        assert (res / "figures" / "rep" / "comparisons" / f"{table}_paired.png").stat().st_size > 1000
    assert not (res / "tables" / "rep" / "paired_cv.csv").exists()  # paired: false
    q_sm = pd.read_csv(res / "tables" / "rep" / "paired_q-sm.csv")  # a question's own table
    assert q_sm[["variant_a", "variant_b"]].values.tolist() == [["soft", "sig"]]
    pc = pd.read_csv(res / "tables" / "rep" / "paired_pc.csv").iloc[0]
    acc_soft = np.mean([metrics_of(rep, "soft", s)["test_acc"] for s in (0, 1)])
    assert pc["variant_a"] == "soft" and pc["acc_a"] == pytest.approx(acc_soft)
    for comp in ("pc", "lam", "cv", "tp"):
        assert (res / "figures" / "rep" / "comparisons" / f"{comp}_seeds.png").stat().st_size > 1000
    answers = (res / "answers.md").read_text()
    assert "Softmax vs sigmoid" in answers and "Lambda sweep" in answers
    assert f"{100 * acc_soft:.2f}%" in answers
    assert answers.strip() in (res / "summary.md").read_text()
    page = (res / "answers.html").read_text()
    assert "Lambda sweep" in page and f"{100 * acc_soft:.2f}%" in page


def test_report_holds_the_paired_tables_and_the_answers(rep, tmp_path):
    proc = subprocess.run(
        [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(rep), "--configfile", str(rep / "config.yaml")]
        + ["--report", str(tmp_path / "report.zip")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = zipfile.ZipFile(tmp_path / "report.zip").namelist()
    for want in ("answers.html", "paired_pc.html", "pc_paired.png", "pc_seeds.png", "per_seed.html"):
        assert any(n.endswith(want) for n in names), (want, names)


# ---- selection on validation only --------------------------------------------------------------


def test_permuting_the_test_labels_changes_no_selected_epoch_or_variant(rep, tmp_path, archive):
    """Train the same variants on a split whose test labels are permuted: the kept epoch, early
    stopping, the weights and every validation number stay bit for bit; only test numbers move,
    and the variant a validation-based choice picks stays the same."""
    from cifarflow.config import training_settings, validate_config
    from cifarflow.training.job import run_variant

    _, variants, _ = validate_config(copy.deepcopy(replicate_config(archive)))
    chosen = {}
    for name in ("logi", "lg-lambda0", "lg-lambda0.1"):
        v = dict(training_settings(variants[name], 0))
        v["select_best"] = True  # every variant selects its kept epoch on validation accuracy
        split = rep / "results" / "data" / f"split_{v['split']}.h5"
        permuted = tmp_path / f"permuted_{v['split']}.h5"
        if not permuted.exists():
            shutil.copy(split, permuted)
            with h5py.File(permuted, "r+") as f:
                labels = f["test/labels"][()]
                f["test/labels"][...] = np.random.default_rng(0).permutation(labels)
        plan = rep / "results" / "plans" / f"{_plan_id(metrics_of(rep, name, 0))}.h5"
        a = run_variant(split, plan, v, tmp_path / "a" / name, log=lambda m: None)
        b = run_variant(permuted, plan, v, tmp_path / "b" / name, log=lambda m: None)
        for key in ("best_epoch", "stopped_epoch", "epochs_run", "best_val_acc", "selected_val_acc"):
            assert a[key] == b[key], (name, key)
        ha = pd.read_csv(tmp_path / "a" / name / "history.csv").drop(columns=["seconds"])
        hb = pd.read_csv(tmp_path / "b" / name / "history.csv").drop(columns=["seconds"])
        pd.testing.assert_frame_equal(ha, hb)
        assert params_digest(tmp_path / "a" / name / "weights.h5") == params_digest(
            tmp_path / "b" / name / "weights.h5"
        )
        assert a["test_acc"] != b["test_acc"] or a["test_loss"] != b["test_loss"]
        chosen[name] = (a, b)
    grid = ("lg-lambda0", "lg-lambda0.1")
    pick_a = max(grid, key=lambda n: chosen[n][0]["selected_val_acc"])
    pick_b = max(grid, key=lambda n: chosen[n][1]["selected_val_acc"])
    assert pick_a == pick_b


def _plan_id(metrics: dict) -> str:
    from cifarflow.config import plan_id

    return plan_id(metrics["plan"])
