"""The benchmark suite's code paths on tiny sizes (`python tools/bench.py`): not a timed test.

The numbers are not checked against anything but being positive; the structure of the JSON and
CSV results is what these tests pin down.
"""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import bench  # tools/bench.py (tests/conftest.py puts tools/ on sys.path)
import numpy as np
import pytest

from archives import make_folder_archive

BENCH = bench.BENCH

NUMPY_KEYS = {
    "images_per_s",
    "steps_per_s",
    "ms_per_step",
    "images_per_s_cpu",
    "steps_per_repeat",
    "repeats_images_per_s",
    "fraction_of_limit",
    "gflops",
}


def _positive(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and np.isfinite(x) and x > 0


@pytest.mark.slow  # runs the benchmark
def test_quick_run_writes_json_and_csv_with_every_model(tmp_path):
    out = tmp_path / "bench" / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--quick",
            "--skip-torch",
            "--skip-rss",
            "--skip-import",
            "--data",
            "random",
            "--epoch-images",
            "200",
            "--profile",
            "--floor",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    r = json.loads(out.read_text())
    assert r["schema"] == bench.SCHEMA
    assert {"settings", "environment", "threads", "machine", "models", "targets", "preprocess"} <= set(r)
    assert r["settings"]["batch_size"] == 100 and r["settings"]["dtype"] == "float32" and r["settings"]["threads"] == 1
    assert r["environment"]["thread_env"]["OPENBLAS_NUM_THREADS"] == "1"  # pinned before NumPy loaded
    if r["threads"]["checked"]:
        assert r["threads"]["one_thread"]
    assert _positive(r["machine"]["sgemm_gflops"]) and _positive(r["machine"]["copy_gbs"])
    assert list(r["models"]) == list(bench.MODELS)
    for name, m in r["models"].items():
        assert set(m["numpy"]) == NUMPY_KEYS, name
        assert all(_positive(m["numpy"][k]) for k in NUMPY_KEYS - {"repeats_images_per_s"}), name
        assert all(_positive(m[k]) for k in ("flops", "bytes", "n_params", "limit_ms_flops", "limit_ms_bytes")), name
        assert m["torch"] is None and m["numpy_over_torch"] is None and m["numpy_over_torch_wall"] is None
        assert (
            m["epoch"]["n_train"] == 200 and _positive(m["epoch"]["seconds"]) and _positive(m["epoch"]["cpu_share"])
        ), name
    phases = r["epoch_profile"]["phases"]
    assert _positive(r["epoch_profile"]["profiled_epoch_seconds"])
    assert all(_positive(phases[label]) for label, *_ in bench.PHASES if label != "learning rate"), phases
    assert all(_positive(s) for s in r["epoch_profile"]["evaluation_parts"].values())
    assert sum(phases.values()) == pytest.approx(r["epoch_profile"]["profiled_epoch_seconds"])
    assert {t["target"] for t in r["targets"]} >= {"peak RSS of a full-data linear training job"}
    assert all(t["holds"] is None for t in r["targets"])  # nothing comparable measured in a quick run

    rows = list(csv.DictReader(out.with_suffix(".csv").open()))
    assert set(rows[0]) == {"section", "model", "metric", "value", "unit"}
    got = {(row["section"], row["model"], row["metric"]) for row in rows}
    assert ("machine", "", "sgemm_gflops") in got
    for name in bench.MODELS:
        assert {("step", name, "numpy_images_per_s"), ("epoch", name, "seconds")} <= got
    assert all(float(row["value"]) > 0 for row in rows if row["section"] != "epoch_profile")
    assert "NumPy img/s" in proc.stdout and "targets:" in proc.stdout
    assert r["epoch_floor"]["n_train"] == 200 and _positive(r["epoch_floor"]["bandwidth_limit_seconds"])
    assert r["models"]["mlp100"]["gemm_floor"]["flops"] == r["models"]["mlp100"]["flops"]
    assert r["models"]["convnet-small"]["gemm_floor"] is None
    assert "stripped softmax epoch" in proc.stdout and "its step's matrix products alone" in proc.stdout


def test_unknown_model_is_refused_with_the_known_names(tmp_path, capsys):
    assert bench.main(["--models", "softmax,resnet", "--out", str(tmp_path / "b.json")]) == 2
    assert "unknown model 'resnet'" in capsys.readouterr().err


def test_step_flops_count_forward_and_backward_gemms():
    n, d, k = 100, 3072, 10
    assert bench.step_cost(bench.build("softmax"), n)["flops"] == 4 * n * d * k  # no input gradient
    assert bench.step_cost(bench.build("mlp50"), n)["flops"] == 4 * n * d * 50 + 6 * n * 50 * k
    conv = 2 * n * 8 * 8 * (4 * 4 * 3) * 40
    fc = 2 * n * (8 * 8 * 40) * 300 * 3 + 2 * n * 300 * k * 3
    assert bench.step_cost(bench.build("convnet-patchify"), n)["flops"] == 2 * conv + fc


def test_targets_hold_or_miss_with_a_factor():
    result = {
        "models": {
            "softmax": {"numpy_over_torch": 2.0, "epoch": {"seconds": 1.0, "n_train": 49_000}},
            "mlp50": {"numpy_over_torch": 1.2},
        },
        "train_job": {"peak_rss_mb": 300.0, "n_train": 49_000},
        "preprocess": None,
    }
    t = {row["target"]: row for row in bench.targets(result)}
    assert t["softmax step throughput NumPy/PyTorch"]["holds"] is True
    assert t["mlp50 step throughput NumPy/PyTorch"]["holds"] is False
    assert t["mlp50 step throughput NumPy/PyTorch"]["factor"] == pytest.approx(0.8)
    assert t["softmax full-data epoch (augmentation + steps + evaluation)"]["factor"] == pytest.approx(0.5)
    assert t["peak RSS of a full-data linear training job"]["holds"] is True
    assert t["preprocessing 60,000 JPEGs into HDF5"]["holds"] is None
    assert t["sigmoid step throughput NumPy/PyTorch"]["measured"] is None


def test_step_targets_are_judged_on_numpys_own_kernel_when_the_environment_forces_one():
    result = {
        "models": {"convnet-small": {"numpy_over_torch": 0.9}},
        "preprocess": None,
        "own_blas": {
            "forced": "OPENBLAS_CORETYPE=Haswell",
            "models": {
                "convnet-small": {"numpy_over_torch": 1.3, "numpy_images_per_s": 2600.0, "torch_images_per_s": 2000.0}
            },
        },
    }
    rows = bench.targets(result)
    judged = next(r for r in rows if r["target"] == "convnet-small step throughput NumPy/PyTorch")
    assert judged["measured"] == 1.3 and judged["holds"] is True
    shown = rows[rows.index(judged) + 1]
    assert shown.get("informative") and shown["measured"] == 0.9 and "forced kernel" in shown["target"]
    assert "not judged" in bench.format_table(
        {
            **result,
            "machine": {"sgemm_gflops": 1, "sgemm_shape": [1, 1, 1], "copy_gbs": 1},
            "settings": {"batch_size": 100},
            "environment": {},
            "threads": {},
            "models": {},
            "targets": rows,
            "own_blas": {**result["own_blas"], "kernel": "k", "sgemm_gflops": 2.0},
        }
    )


def test_a_forced_blas_kernel_is_measured_again_without_it(tmp_path):
    out = tmp_path / "bench.json"
    env = {**os.environ, "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE", "512")}
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--quick",
            "--skip-torch",
            "--skip-rss",
            "--skip-import",
            "--skip-epoch",
            "--models",
            "softmax",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    r = json.loads(out.read_text())
    own = r["own_blas"]
    assert f"OPENBLAS_L2_SIZE={env['OPENBLAS_L2_SIZE']}" in own["forced"]
    assert "OPENBLAS_CORETYPE" not in own["kernel"] and _positive(own["sgemm_gflops"])
    assert _positive(own["models"]["softmax"]["numpy_images_per_s"])
    rows = list(csv.DictReader(out.with_suffix(".csv").open()))
    assert any(row["section"] == "step_own_blas" and row["model"] == "softmax" for row in rows)
    assert "NumPy's own BLAS kernel" in proc.stdout


def test_pytorch_runs_the_same_shapes_side_by_side():
    torch = pytest.importorskip("torch")
    bench._torch()
    for name in bench.MODELS:
        model = bench.build(name)
        x, _ = bench.batches(1, 4)[0]
        tx = torch.from_numpy(x)
        if hasattr(model, "plan"):
            tx = tx.reshape(-1, 32, 32, 3).permute(0, 3, 1, 2)
        net = bench.torch_model(torch, model)
        assert tuple(net(tx).shape) == (4, 10), name
        assert sum(p.numel() for p in net.parameters()) == model.n_params, name
    row = bench.bench_steps("sigmoid", batch=8, repeats=1, torch=torch, quick=True)
    assert (
        _positive(row["torch"]["images_per_s"])
        and _positive(row["numpy_over_torch"])
        and _positive(row["numpy_over_torch_wall"])
    )


@pytest.mark.slow
def test_import_and_training_job_report_time_and_peak_rss(tmp_path):
    archive = tmp_path / "tiny.tar.gz"
    make_folder_archive(archive, n_train_per_class=12, n_test_per_class=2, fmt="jpg")
    imp = bench.import_job(archive, tmp_path / "cifar10.h5", tmp_path / "import.log")
    assert imp["n_images"] == 140 and all(_positive(imp[k]) for k in ("seconds", "cpu_seconds", "peak_rss_mb"))
    split = tmp_path / "split.h5"
    bench.build_split(tmp_path / "cifar10.h5", split, {"type": "holdout", "val_size": 10, "seed": 0})
    job = bench.train_job(split, tmp_path / "job")
    assert job["n_train"] == 110 and job["model"] == "softmax"
    assert all(
        _positive(job[k]) for k in ("peak_rss_mb", "peak_rss_mb_rusage", "wall_seconds", "cpu_seconds", "train_seconds")
    )
    # the job's own peak, not the RSS of the (larger) process that started it
    assert job["peak_rss_mb_rusage"] < 1000


def test_the_epoch_bandwidth_limit_counts_the_bytes_each_image_must_move():
    d = 32 * 32 * 3
    # training image: uint8 read (d), float32 row written (4d) and read by two GEMMs (8d); evaluated: d + 4d + 4d
    lim = bench.epoch_bandwidth_limit(49_000, 11_000, copy_gbs=20.0)
    assert lim["bytes"] == 49_000 * (d + 4 * d + 8 * d) + 11_000 * (d + 4 * d + 4 * d)
    assert lim["seconds"] == pytest.approx(lim["bytes"] / 20e9)


def test_matrix_bound_models_are_judged_by_the_bound_that_applies():
    def model(ratio, frac, flops_ms=2.0, bytes_ms=0.5):
        return {
            "numpy_over_torch": ratio,
            "numpy": {"fraction_of_limit": frac},
            "limit_ms_flops": flops_ms,
            "limit_ms_bytes": bytes_ms,
        }

    result = {
        "models": {
            "mlp100": model(1.2, 0.85),
            "mlp256": model(1.1, 0.6),
            "convnet-small": model(1.1, 0.4),
            "convnet-patchify": model(1.2, 0.9, flops_ms=0.1),
        },
        "machine": {"copy_gbs": 20.0},
        "preprocess": None,
    }
    t = {row["target"]: row for row in bench.targets(result)}
    assert t["mlp100 step, judged (either figure)"]["holds"] is True  # at 85% of sgemm, although 1.2x PyTorch
    assert t["mlp256 step, judged (either figure)"]["holds"] is False
    assert t["convnet-small step, judged (both figures)"]["holds"] is False  # 1.1x PyTorch but 40% of sgemm
    assert (
        t["convnet-patchify step at the machine's sgemm rate (matrix-bound)"]["measured"] is None
    )  # memory-bound here
    assert t["convnet-patchify step, judged (both figures)"]["holds"] is True
    assert t["mlp50 step, judged (either figure)"]["holds"] is None


def test_the_softmax_epoch_is_judged_against_its_bandwidth_limit():
    ep = {"seconds": 0.3, "n_train": 49_000, "n_val": 1000, "n_eval_train": 10_000}
    result = {"models": {"softmax": {"epoch": ep}}, "machine": {"copy_gbs": 20.0}, "preprocess": None}
    t = {row["target"]: row for row in bench.targets(result)}
    limit = bench.epoch_bandwidth_limit(49_000, 11_000, 20.0)["seconds"]
    assert t["softmax full-data epoch / its memory-bandwidth limit"]["measured"] == pytest.approx(0.3 / limit)
    assert t["softmax full-data epoch / its memory-bandwidth limit"]["holds"] is (0.3 / limit <= 3.0)


def _result(rate, epoch_s, cpu="EPYC", quick=True):
    return {
        "created": "t",
        "environment": {"cpu": cpu, "cpu_count": 2},
        "settings": {"quick": quick, "data": "random", "batch_size": 100},
        "models": {
            "softmax": {"numpy": {"images_per_s_cpu": rate}, "epoch": {"n_train": 500, "cpu_seconds_est": epoch_s}}
        },
    }


def test_a_regression_beyond_the_factor_is_flagged_only_against_the_same_machine():
    base = _result(1000.0, 0.10, quick=False)
    ok = bench.compare_results(_result(600.0, 0.18, quick=False), base, factor=2.0)
    assert ok["compared"] and ok["regressions"] == 0
    assert [r["speed_vs_baseline"] for r in ok["rows"]] == pytest.approx([0.6, 0.10 / 0.18])
    slow = bench.compare_results(_result(400.0, 0.25, quick=False), base, factor=2.0)
    assert [r["regression"] for r in slow["rows"]] == [True, True]
    assert "REGRESSION" in bench.format_comparison(slow)
    other = bench.compare_results(_result(1.0, 9.0, cpu="another CPU", quick=False), base, factor=2.0)
    assert not other["compared"] and other["regressions"] == 0
    assert not bench.compare_results(_result(1.0, 9.0, quick=True), base, factor=2.0)["compared"]


def test_a_quick_run_judges_step_rates_only():
    """A quick run's epoch is one pass over 500 images (milliseconds of CPU): a slow one is noise,
    not a regression; its step rate is still judged."""
    base = _result(1000.0, 0.01)
    noisy_epoch = bench.compare_results(_result(900.0, 0.05), base, factor=2.0)
    assert [r["metric"] for r in noisy_epoch["rows"]] == ["step images/s (CPU)"]
    assert noisy_epoch["regressions"] == 0
    assert bench.compare_results(_result(400.0, 0.01), base, factor=2.0)["regressions"] == 1


# one quick softmax step measurement: the command of the regression-check tests
QUICK_STEP_CMD = [
    sys.executable,
    str(Path(bench.__file__)),
    *("--quick", "--skip-torch", "--skip-rss", "--skip-import", "--skip-epoch"),
    *("--blas", "env", "--models", "softmax"),
]


def test_quick_run_fails_against_a_baseline_it_cannot_reach(tmp_path):
    first = tmp_path / "baseline.json"
    cmd = QUICK_STEP_CMD
    proc = subprocess.run([*cmd, "--out", str(first)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    recorded = json.loads(first.read_text())
    again = subprocess.run(
        [*cmd, "--out", str(tmp_path / "again.json"), "--compare", str(first), "--max-slowdown", "1000"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 regression(s)" in again.stdout
    recorded["models"]["softmax"]["numpy"]["images_per_s_cpu"] *= 1e6  # a baseline 10^6 times faster
    first.write_text(json.dumps(recorded))
    slow = subprocess.run(
        [*cmd, "--out", str(tmp_path / "slow.json"), "--compare", str(first)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert slow.returncode == 1
    assert "REGRESSION" in slow.stdout and "NumPy img/s" in slow.stdout


def test_machine_key_names_the_cpu_cores_mode_and_data():
    env = {"cpu": "AMD EPYC 7B13 64-Core Processor", "cpu_count": 2}
    assert bench.machine_key(env, True, "random") == "amd-epyc-7b13-64-core-processor-2cpu-quick-random"
    assert bench.machine_key(env, False, "auto") == "amd-epyc-7b13-64-core-processor-2cpu-full-real"
    assert bench.machine_key({"cpu": "../../x y", "cpu_count": 4}, True, "random") == "x-y-4cpu-quick-random"


@pytest.mark.slow  # runs the benchmark twice
def test_baselines_dir_records_then_compares_with_this_machines_file(tmp_path):
    """CI's regression check: `--baselines DIR` finds the file of this machine; with none it says so
    and passes; `--record-baseline` writes it; a baseline this run cannot reach fails the run."""
    cmd = [*QUICK_STEP_CMD, "--data", "random", "--baselines", str(tmp_path / "baselines")]
    run = lambda *extra: subprocess.run([*cmd, *extra], capture_output=True, text=True, timeout=300)  # noqa: E731
    first = run("--out", str(tmp_path / "a.json"))
    assert first.returncode == 0, first.stderr
    assert "no baseline for this machine" in first.stdout and not (tmp_path / "baselines").exists()
    recorded = run("--out", str(tmp_path / "b.json"), "--record-baseline")
    assert recorded.returncode == 0, recorded.stderr
    (path,) = (tmp_path / "baselines").iterdir()
    key = bench.machine_key(bench.environment(), True, "random")
    assert path.name == f"{key}.json" and json.loads(path.read_text())["models"]["softmax"]
    again = run("--out", str(tmp_path / "c.json"), "--max-slowdown", "1000")
    assert again.returncode == 0 and "0 regression(s)" in again.stdout, again.stdout + again.stderr
    data = json.loads(path.read_text())
    data["models"]["softmax"]["numpy"]["images_per_s_cpu"] *= 1e6
    path.write_text(json.dumps(data))
    slow = run("--out", str(tmp_path / "d.json"))
    assert slow.returncode == 1 and "REGRESSION" in slow.stdout
    assert run("--out", str(tmp_path / "e.json"), "--compare", str(path)).returncode == 2  # both: refused
    auto = subprocess.run([*cmd[:-4], "--baselines", str(tmp_path / "baselines")], capture_output=True, text=True)
    assert auto.returncode == 2 and "--data random or --data real" in auto.stderr


@pytest.mark.parametrize("name", ["softmax", "mlp100"])
def test_the_floor_times_every_matrix_product_of_a_step_and_counts_its_flops(name):
    model = bench.build(name)
    g = bench.gemm_floor(name, {"sgemm_gflops": 50.0}, batch=20, repeats=1, target_s=0.001)
    assert g["flops"] == bench.step_cost(model, 20)["flops"]
    layers = len(model.weight_keys)
    assert len(g["gemms"]) == 3 * layers - 1  # no input gradient for the first layer
    d, h = model.params["W1"].shape[1], model.params["W1"].shape[0]
    assert g["gemms"][0]["mnk"] == [20, d, h] and g["gemms"][1]["mnk"] == [h, 20, d]
    assert all(_positive(p["us"]) and _positive(p["gflops"]) for p in g["gemms"])
    assert g["fraction_of_sgemm"] == pytest.approx(g["gflops"] / 50.0)
    assert bench.gemm_floor("convnet-small", {"sgemm_gflops": 50.0}) is None


def test_the_stripped_epoch_reports_its_parts_and_the_images_it_evaluates():
    data = bench.random_data(n_train=300, n_val=40, n_test=10)
    from cifarflow.training.solver import Normalizer

    ep = bench.epoch_floor(data, Normalizer.from_images(data.train_images), batch=100, repeats=1)
    assert ep["n_train"] == 300 and ep["n_evaluated"] == 300 + 40  # eval_train 10000 > 300: every image
    assert _positive(ep["seconds"]) and all(_positive(v) for v in ep["parts_seconds"].values())
    assert set(ep["parts_seconds"]) == {
        "steps",
        "products only (batch in cache)",
        "gather + normalise only",
        "evaluation",
    }
