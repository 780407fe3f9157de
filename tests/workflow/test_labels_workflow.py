"""Display labels through the real Snakemake on generated data (issue 31): a variant's `label:` shows
in summary.md, the tables and a figure's legend; changing only a label reruns report jobs, never a
training, and leaves every run file as it was."""

from __future__ import annotations

import hashlib
import re
import zlib
from pathlib import Path

import pandas as pd
import pytest

from workflow_utils import scheduled_jobs, snakemake, write_config

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

# the report jobs a label reaches (the set's figures, its paired tables, the tables, summary.md, the
# manifest) and the default target above them
REPORT_JOBS = {
    "figures_lab": 1,
    "paired_lab": 1,
    "set_tables": 1,
    "all_tables": 1,
    "summary_md": 1,
    "manifest": 1,  # it lists the tables' files
    "default": 1,
}


def label_config(archive: Path, label: str) -> dict:
    return {
        "local_archive": str(archive),
        "splits": {"full": {"type": "holdout", "val_size": 100, "seed": 0}},
        "augmentations": {"none": {}},
        "defaults": {"epochs": 2, "batch_size": 50, "eta": 0.01, "eval_train": 100},
        "statistics": {"n_resamples": 99},
        "experiments": {
            "lab": {
                "variants": [
                    {"name": "soft", "model": "softmax", "label": label},
                    {"name": "lg", "model": "softmax", "grid": {"lambda": [0, 0.1]}},
                ],
                "comparisons": [{"name": "cv", "type": "curves", "variants": ["soft", "lg-lambda0.1"]}],
            }
        },
    }


def pdf_texts(path: Path) -> list[str]:
    """The texts a matplotlib PDF draws (one per text object; ASCII text as written)."""
    data = path.read_bytes()
    texts = []
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            content = zlib.decompress(m.group(1))
        except zlib.error:
            continue
        for block in re.findall(rb"BT(.*?)ET", content, re.S):
            parts = re.findall(rb"\((?:\\.|[^\\)])*\)", block)
            texts.append(b"".join(re.sub(rb"\\(.)", rb"\1", p[1:-1]) for p in parts).decode("latin-1"))
    return texts


def run_files(wd: Path) -> dict[str, str]:
    """sha256 of every file under results/runs (weights, histories, metrics, predictions)."""
    runs = wd / "results" / "runs"
    return {
        str(p.relative_to(runs)): hashlib.sha256(p.read_bytes()).hexdigest() for p in runs.rglob("*") if p.is_file()
    }


def test_a_label_shows_in_the_report_and_changing_it_reruns_no_training(archive, tmp_path):
    wd = tmp_path / "wd"
    wd.mkdir()
    write_config(wd, label_config(archive, "Plain softmax"))
    snakemake(wd, "--cores", "2")
    res = wd / "results"

    summary = (res / "summary.md").read_text(encoding="utf-8")
    assert "| label " in summary and "Plain softmax" in summary
    assert "[Plain softmax curves](figures/lab/soft/curves.png)" in summary
    table = pd.read_csv(res / "tables" / "lab" / "summary.csv")
    assert list(table.columns[:2]) == ["variant", "label"]  # the name stays the identifier
    assert dict(zip(table["variant"], table["label"])) == {
        "soft": "Plain softmax",
        "lg-lambda0": "λ 0",
        "lg-lambda0.1": "λ 0.1",
    }
    paired = pd.read_csv(res / "tables" / "lab" / "paired_cv.csv")
    assert (paired.loc[0, "variant_a"], paired.loc[0, "label_a"]) == ("soft", "Plain softmax")
    assert "| Plain softmax " in (res / "tables" / "lab" / "paired_cv.md").read_text(encoding="utf-8")
    legend = pdf_texts(res / "figures" / "lab" / "comparisons" / "cv.pdf")
    assert "Plain softmax" in legend and "soft" not in legend
    assert any(t.startswith("Plain softmax") for t in pdf_texts(res / "figures" / "lab" / "soft" / "curves.pdf"))
    before = run_files(wd)
    assert len(before) == 12  # 3 variants x (weights, history, metrics, predictions)

    write_config(wd, label_config(archive, "Tuned softmax"))
    assert scheduled_jobs(snakemake(wd, "-n")) == REPORT_JOBS  # no train, plan or data job
    snakemake(wd, "--cores", "2")
    assert run_files(wd) == before  # every run file bit-identical
    assert "Tuned softmax" in (res / "summary.md").read_text(encoding="utf-8")
    legend = pdf_texts(res / "figures" / "lab" / "comparisons" / "cv.pdf")
    assert "Tuned softmax" in legend and "Plain softmax" not in legend
    assert scheduled_jobs(snakemake(wd, "-n")) == {}
