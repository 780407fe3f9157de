"""The workflow end to end through the real Snakemake, on a small generated CIFAR-10 archive."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

import h5py
import pandas as pd
import pytest

from cifarflow.compare_runs import compare_runs

from workflow_utils import (
    CHROMIUM_FLAGS,
    REPO,
    SNAKEMAKE,
    checkpoint_epoch,
    chromium_dom,
    params_digest,
    run_fingerprint,
    scheduled_jobs,
    small_config,
    snakemake,
    stop_at_checkpoint_env,
    stopped_training_job,
    write_config,
)

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def done(tmp_path_factory, archive) -> Path:
    """A workdir in which the whole small workflow ran with --cores 2."""
    wd = tmp_path_factory.mktemp("run_a")
    write_config(wd, small_config(archive))
    proc = snakemake(wd, "--cores", "2")
    (wd / "run.stderr").write_text(proc.stderr)  # what the run said (test_the_run_ends_saying_...)
    return wd


def test_every_output_is_produced(done):
    res = done / "results"
    for name in ("soft", "sig", "lg-lambda0", "lg-lambda0.1", "mlp", "logi", "boom"):
        for f in ("weights.h5", "history.csv", "metrics.json", "predictions.h5"):
            assert (res / "runs" / name / "seed0" / f).stat().st_size > 0
        for fig in ("curves", "confusion", "templates"):
            for ext in ("png", "pdf"):
                assert (res / "figures" / "small" / name / f"{fig}.{ext}").stat().st_size > 1000
        assert not (res / "runs" / name / "seed0" / "checkpoint.h5").exists()
    for comp in ("pc", "lam", "tp", "tm", "cv"):
        assert (res / "figures" / "small" / "comparisons" / f"{comp}.png").stat().st_size > 1000
    assert (res / "figures" / "augment" / "fliptrans.png").exists()
    for f in ("summary.csv", "summary.md", "summary.tex", "per_class.csv", "per_class.md", "benchmarks.csv"):
        assert (res / "tables" / f).stat().st_size > 0
    assert "\\toprule" in (res / "tables" / "summary.tex").read_text()
    summary = (res / "summary.md").read_text()
    assert "soft" in summary and "](figures/small/comparisons/pc.png)" in summary
    for log in ("train/soft/seed0.log", "data/import.log"):
        assert (done / "logs" / log).stat().st_size > 0
    assert (done / "benchmarks" / "train" / "soft" / "seed0.tsv").exists()


def test_training_log_has_one_progress_line_per_epoch(done):
    log = (done / "logs" / "train" / "soft" / "seed0.log").read_text()
    for epoch in range(4):
        assert f"epoch {epoch:3d}  lr" in log
    assert "test accuracy" in log


def test_metrics_record_results_config_and_provenance(done):
    m = json.loads((done / "results" / "runs" / "soft" / "seed0" / "metrics.json").read_text())
    assert m["test_acc"] > 0.5  # the generated classes are easy for a linear model
    assert len(m["confusion"]) == 10 and sum(map(sum, m["confusion"])) == 200
    assert set(m["per_class_acc"]) == set(m["class_names"])
    assert m["config"]["model"] == "softmax" and m["config"]["epochs"] == 3
    # the split's sha256, as the split job recorded it beside the file for the training jobs
    split = done / "results" / "data" / "split_full.h5"
    assert m["data_sha256"] == hashlib.sha256(split.read_bytes()).hexdigest()
    assert json.loads((split.parent / "split_full.h5.sha256.json").read_text())["sha256"] == m["data_sha256"]
    assert m["provenance"]["numpy"] and "git_commit" in m["provenance"]
    with h5py.File(done / "results" / "runs" / "soft" / "seed0" / "weights.h5") as f:
        assert json.loads(f.attrs["config"])["name"] == "soft"
        assert f["params/W1"].shape == (10, 3072)
    hist = pd.read_csv(done / "results" / "runs" / "soft" / "seed0" / "history.csv")
    assert list(hist["epoch"]) == [0, 1, 2, 3]
    assert {
        "lr",
        "train_loss",
        "train_cost",
        "train_acc",
        "val_loss",
        "val_cost",
        "val_acc",
        "weight_norm2",
        "seconds",
    } <= set(hist)


def test_logistic_variant_uses_its_class_pair(done):
    m = json.loads((done / "results" / "runs" / "logi" / "seed0" / "metrics.json").read_text())
    assert m["class_names"] == ["cat", "dog"]
    assert sum(map(sum, m["confusion"])) == 40  # 20 test images per class in the generated set


def test_diverging_variant_is_recorded_and_the_rest_completes(done):
    m = json.loads((done / "results" / "runs" / "boom" / "seed0" / "metrics.json").read_text())
    assert m["diverged"] is True and m["diverged_epoch"] >= 1
    table = pd.read_csv(done / "results" / "tables" / "summary.csv")
    assert "boom" in set(table.iloc[:, 0])


def test_nothing_left_to_do_after_a_complete_run(done):
    assert scheduled_jobs(snakemake(done, "-n")) == {}


def test_the_import_follows_the_archive_content_not_its_timestamp(tmp_path):
    from archives import make_python_archive

    src = tmp_path / "cifar-10-python.tar.gz"
    make_python_archive(src, n_per_batch=20, n_test=20, seed=5)
    write_config(tmp_path, small_config(src))
    target = "results/data/cifar10.h5"  # after the options: --configfile takes every word up to the next one
    snakemake(tmp_path, "--cores", "1", target)
    stamp = src.stat().st_mtime + 1000
    os.utime(src, (stamp, stamp))  # the same archive, copied or downloaded again later
    assert scheduled_jobs(snakemake(tmp_path, "-n", target)) == {}
    make_python_archive(src, n_per_batch=20, n_test=20, seed=6)  # other images, same path
    assert scheduled_jobs(snakemake(tmp_path, "-n", target)) == {"import_data": 1}
    snakemake(tmp_path, "--cores", "1", target)
    assert scheduled_jobs(snakemake(tmp_path, "-n", target)) == {}


def test_changing_one_variant_reruns_only_that_variant(done, archive):
    cfg = small_config(archive)
    cfg["experiments"]["small"]["variants"][0] = {"name": "soft", "model": "softmax", "eta": 0.02}
    write_config(done, cfg, "changed.yaml")
    jobs = scheduled_jobs(snakemake(done, "-n", config="changed.yaml"))
    assert jobs.get("train") == 1
    assert "plan_epochs" not in jobs and "split_data" not in jobs


def test_changing_a_figure_setting_reruns_no_training(done, archive):
    write_config(done, small_config(archive, figures={"dpi": 80, "width": 6.4}), "figures.yaml")
    jobs = scheduled_jobs(snakemake(done, "-n", config="figures.yaml"))
    # the set's figures (one job: every variant's and comparison's) and the previews redraw
    assert jobs.get("figures_small") == 1 and jobs.get("preview_augmentation") == 1, jobs
    assert "train" not in jobs and "plan_epochs" not in jobs


def test_figures_without_pdf_write_pngs_only_and_rerun_no_training(done, archive, tmp_path):
    work = tmp_path / "copy"
    shutil.copytree(done, work, symlinks=True)  # copy2: the files keep their times, so nothing is stale
    for pdf in (work / "results" / "figures").rglob("*.pdf"):
        pdf.unlink()
    write_config(work, small_config(archive, figures={"pdf": False}))
    dry = snakemake(work, "-n")
    jobs = scheduled_jobs(dry)
    assert jobs.get("figures_small") == 1 and "train" not in jobs and "plan_epochs" not in jobs
    assert ".pdf" not in dry.stdout + dry.stderr  # no job declares a PDF
    snakemake(work, "--cores", "2")
    figures = work / "results" / "figures"
    assert (figures / "small" / "soft" / "curves.png").stat().st_size > 1000
    assert (figures / "small" / "comparisons" / "pc.png").stat().st_size > 1000
    assert not list(figures.rglob("*.pdf"))
    assert scheduled_jobs(snakemake(work, "-n")) == {}


def test_same_config_with_one_core_gives_bit_identical_results(done, archive, tmp_path):
    write_config(tmp_path, small_config(archive))
    snakemake(tmp_path, "--cores", "1", "results/tables/summary.csv")
    for name in ("soft", "sig", "lg-lambda0.1", "mlp", "logi", "boom"):
        assert run_fingerprint(tmp_path, name) == run_fingerprint(done, name), name
    # and so says `python -m cifarflow compare-runs`, file by file, predictions included
    said = []
    assert compare_runs(done / "results" / "runs", tmp_path / "results" / "runs", log=said.append) == 0, said
    assert said[-1].startswith("compare-runs: identical, 28 files (7 weights, 7 predictions, 7 metrics, 7 history)")


def test_materialised_plan_gives_bit_identical_weights(done, archive, tmp_path):
    write_config(tmp_path, small_config(archive, materialize=True))
    snakemake(tmp_path, "--cores", "2", "results/runs/sig/seed0/weights.h5")
    with h5py.File(next((tmp_path / "results" / "plans").glob("*fliptrans*.h5"))) as f:
        assert "images" in f and f["images"].shape[0] == 3
    assert params_digest(tmp_path / "results/runs/sig/seed0/weights.h5") == params_digest(
        done / "results/runs/sig/seed0/weights.h5"
    )


def test_killed_training_job_resumes_bit_identical(archive, tmp_path):
    slow = {"name": "slow", "model": "mlp", "hidden": [256], "epochs": 40, "momentum": 0.9, "eta": 0.005}
    cfg = small_config(archive)
    cfg["experiments"]["small"] = {"variants": [slow]}
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    for wd in (ref, killed):
        wd.mkdir()
        write_config(wd, cfg)
    target = "results/runs/slow/seed0/weights.h5"
    snakemake(ref, "--cores", "1", target)

    cmd = [
        SNAKEMAKE,
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(killed),
        "--configfile",
        str(killed / "config.yaml"),
        "--cores",
        "1",
        target,
    ]
    # The job stops itself with the checkpoint of epoch 3 on disk (no race with a fast machine).
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=stop_at_checkpoint_env("slow", 3),
    )
    try:
        stopped_training_job(proc, "slow")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert checkpoint_epoch(killed / "results" / "runs" / "slow" / "seed0" / "checkpoint.h5") == 3
    assert not (killed / target).exists()

    snakemake(killed, "--unlock")  # Snakemake itself was killed: its lock stays until released
    snakemake(killed, "--cores", "1", "--rerun-incomplete", target)
    log = (killed / "logs" / "train" / "slow" / "seed0.log").read_text()
    assert "resumed from the checkpoint of epoch" in log
    assert run_fingerprint(killed, "slow") == run_fingerprint(ref, "slow")


def test_bad_config_fails_before_any_job_with_the_key_named(archive, tmp_path):
    cfg = small_config(archive)
    cfg["experiments"]["small"]["variants"][0]["lamda"] = 0.1
    write_config(tmp_path, cfg)
    proc = snakemake(tmp_path, "-n", check=False)
    assert proc.returncode != 0
    assert "config key experiments.small.variants[0]" in proc.stderr + proc.stdout
    assert "'lamda' was unexpected" in proc.stderr + proc.stdout


def test_missing_local_archive_is_named(tmp_path):
    write_config(tmp_path, small_config(tmp_path / "nope.tar.gz"))
    proc = snakemake(tmp_path, "-n", check=False)
    assert proc.returncode != 0
    assert "nope.tar.gz" in proc.stderr + proc.stdout


def test_html_report_builds_and_shows_its_figures_in_chromium(done, tmp_path):
    import numpy as np
    from PIL import Image

    from workflow_utils import require_or_skip

    snakemake(done, "--report", "report.html")
    report = done / "report.html"
    html = report.read_text()
    for name in ("curves.png", "confusion.png", "templates.png", "pc.png", "summary.html", "benchmarks.html"):
        assert name in html, name
    # every figure marked for the report is embedded as a decodable PNG
    import base64
    import io
    import re

    embedded = [Image.open(io.BytesIO(base64.b64decode(m))) for m in re.findall(r"iVBORw0KGgo[A-Za-z0-9+/=]+", html)]
    n_figures = 7 * 3 + 5 + 1  # per-variant figures, comparisons, augmentation preview
    assert len(embedded) >= n_figures
    assert all(im.format == "PNG" and min(im.size) > 200 for im in embedded)

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    require_or_skip(chromium is not None, "headless Chromium (Debian package chromium)")
    flags = CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(
        [chromium, *flags, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=180
    ).stdout
    # the report's script ran and built its navigation from the embedded results
    assert "small" in dom and "Summary" in dom
    shot = tmp_path / "report.png"
    subprocess.run(
        [chromium, *flags, "--window-size=1400,1000", f"--screenshot={shot}", report.as_uri()],
        capture_output=True,
        timeout=180,
        check=True,
    )
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (1000, 1400)
    assert pixels.std() > 10  # a rendered page, not a blank one


# ---- what a run says, and its tables in the report (issue 27) -----------------------------------


def _finished_message(stderr: str) -> tuple[list[str], str]:
    """The result paths the onsuccess message lists, and its report command."""
    block = stderr.split("cifarflow: the run is complete.\n", 1)[1]
    listed, rest = block.split("The HTML report of this run", 1)
    return [line.split()[0] for line in listed.splitlines() if line.strip()], rest.splitlines()[1].strip()


@pytest.fixture(scope="module")
def message_report(done) -> Path:
    """The report built by the command the run's onsuccess message gives, run as printed."""
    _, command = _finished_message((done / "run.stderr").read_text())
    args = shlex.split(command)
    assert args[0] == "snakemake"
    proc = subprocess.run([SNAKEMAKE, *args[1:]], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Missing metadata" not in proc.stderr  # the report of the run's own config
    assert "cifarflow: the run is complete" not in proc.stderr  # building a report is not a run
    return done / "results" / "report.html"


@pytest.mark.slow
def test_the_run_ends_saying_where_its_results_are_and_how_to_build_its_report(done, message_report):
    stderr = (done / "run.stderr").read_text()
    paths, command = _finished_message(stderr)
    # the last words of the run, before Snakemake's own log path and time
    assert stderr.rindex("cifarflow: the run is complete.") > stderr.rindex("steps (100%) done")
    # the config has no questions: the summary, tables and figures, each an existing path
    assert [Path(p).name for p in paths] == ["summary.md", "tables", "figures", "manifest.json", "verify.md"]
    assert all(Path(p).exists() for p in paths)  # as printed: relative to where Snakemake started, or absolute
    args = shlex.split(command)
    assert Path(args[args.index("-d") + 1]).resolve() == done.resolve()
    assert Path(args[args.index("--configfile") + 1]).resolve() == (done / "config.yaml").resolve()
    assert message_report.stat().st_size > 100_000


@pytest.mark.slow
def test_the_reports_tables_show_inline_with_their_cells_in_chromium(done, message_report, tmp_path):
    """Every table the report shows is an HTML page, which the viewer opens in a frame (a CSV would
    only download). Opened the way its eye button does in headless Chromium, the summary table's
    page renders with every variant's row and its test accuracy in the DOM."""
    html = message_report.read_text()
    script = re.search(r'<script id="results">\s*var results = (.*?);\s*</script>', html, re.S).group(1)
    results = json.loads(script)
    pages = {p for p in results if p.endswith(".html")}
    assert not [p for p in results if p.endswith(".csv")]  # no table only as a download
    want = {"results/tables/summary.html", "results/tables/benchmarks.html"}
    want |= {f"results/tables/small/{t}.html" for t in ("summary", "per_class", "per_seed")}
    want |= {f"results/tables/small/paired_{c}.html" for c in ("pc", "lam", "tp", "tm", "cv")}
    want |= {"results/manifest.html", "results/verify/verify.html"}  # the Reproducibility section
    assert pages == want
    assert {results[p]["mime_type"] for p in pages} == {"text/html"}
    # the report's own button code opens the page; the frame it shows gets the page as a data URI
    opener = """<script>
    (function open() {
      if (typeof app === "undefined" || !app) { setTimeout(open, 50); return; }
      var path = "results/tables/small/summary.html";
      new ButtonViewManager(app).handleSelectedResult(path).props.onClick();
    })();
    </script></body>"""
    (tmp_path / "report.html").write_text(html[: html.rindex("</body>")] + opener + html[html.rindex("</body>") + 7 :])
    dom = chromium_dom(tmp_path / "report.html", tmp_path / "profile")
    src = re.search(r'<iframe src="(data:text/html;[^"]*)"', dom).group(1)
    (tmp_path / "frame.html").write_bytes(base64.b64decode(src.split(";base64,", 1)[1]))
    frame = chromium_dom(tmp_path / "frame.html", tmp_path / "profile")
    summary = pd.read_csv(done / "results" / "tables" / "small" / "summary.csv", dtype=str, keep_default_na=False)
    for variant, acc in zip(summary["variant"], summary["test_acc_mean"]):
        row = re.search(rf"<tr>\s*<td>{re.escape(variant)}</td>(.*?)</tr>", frame, re.S)
        assert row and f'<td class="num">{acc}</td>' in row.group(1), variant
    assert frame.count('<th class="num" title="sort by ') >= 10  # the sorting script ran: number columns marked


@pytest.mark.slow
def test_a_failed_job_is_named_with_its_log_and_its_error(archive, tmp_path):
    cfg = small_config(archive)
    big = {"name": "big", "model": "softmax", "classes": ["cat", "dog"], "split": "basic", "batch_size": 150}
    cfg["experiments"]["small"] = {"variants": [{"name": "ok", "split": "basic"}, big]}
    write_config(tmp_path, cfg)
    proc = snakemake(tmp_path, "--cores", "2", check=False)
    assert proc.returncode != 0
    said = proc.stderr.split("cifarflow: 1 job failed; its log:\n", 1)[1].splitlines()[0]
    path, error = said.strip().split(" (rule train): ")
    assert Path(path).resolve() == (tmp_path / "logs" / "train" / "big" / "seed0.log").resolve()
    assert error == "cifarflow: error: variant big: batch_size 150 is larger than its 40 training images"
    assert "cifarflow: the run is complete" not in proc.stderr
