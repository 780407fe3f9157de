"""tools/workflow_bench.py reads a run directory: Snakemake's job records, the benchmark files, the
training jobs' timing, run.log; these tests pin the parsing and the arithmetic on a synthetic run."""

import base64
import json
from datetime import datetime

import pytest
import workflow_bench as wb  # tools/workflow_bench.py (tests/conftest.py puts tools/ on sys.path)

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
T0 = datetime(2026, 12, 5, 2, 3, 29, 500000).timestamp()
LAUNCH = 'python "$CIFARFLOW_LAUNCHER"'


def record(run, output, rule, start, end, log, shellcmd="", job_hash=None):
    meta = run / ".snakemake" / "metadata"
    meta.mkdir(parents=True, exist_ok=True)
    rec = {
        "rule": rule,
        "starttime": T0 + start,
        "endtime": T0 + end,
        "log": [log],
        "shellcmd": shellcmd,
        "job_hash": job_hash if job_hash is not None else hash((rule, log)),
        "incomplete": False,
    }
    (meta / base64.b64encode(output.encode()).decode()).write_text(json.dumps(rec))


def benchmark(run, log, seconds, cpu):
    path = run / "benchmarks" / log.removeprefix("logs/").replace(".log", ".tsv")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{seconds}\t0:00:00\t150.0\t300.0\t110.0\t120.0\t0.00\t0.50\t0.00\t{cpu}\n")


def train_job(run, seed, start, wall, train_seconds, total_seconds):
    log = f"logs/train/v/seed{seed}.log"
    cmd = f"{LAUNCH} --threads 1 train --split s.h5 --plan p.h5 --variant '{{}}' --outdir o > {log} 2>&1"
    for name in ("weights.h5", "metrics.json"):
        record(run, f"results/runs/v/seed{seed}/{name}", "train", start, start + wall - 0.05, log, cmd)
    metrics = run / f"results/runs/v/seed{seed}/metrics.json"
    metrics.parent.mkdir(parents=True, exist_ok=True)
    metrics.write_text(json.dumps({"timing": {"train_seconds": train_seconds, "total_seconds": total_seconds}}))
    benchmark(run, log, wall, wall * 0.6)


@pytest.fixture
def run(tmp_path):
    """Three training jobs (1 s, 2 s, 3 s wall; 0.5, 1.0, 1.5 s of training) and two figure jobs
    without benchmark files, on 2 cores, in a 10 s run."""
    run = tmp_path / "run"
    train_job(run, 0, 1.0, 1.0, 0.5, 0.8)
    train_job(run, 1, 1.0, 2.0, 1.0, 1.5)
    train_job(run, 2, 3.0, 3.0, 1.5, 2.4)
    for i, (start, end) in enumerate([(6.0, 8.5), (6.0, 9.5)]):
        log = f"logs/report/plot_{i}.log"
        cmd = f"{LAUNCH} plot-variant --metrics m --curves c > {log} 2>&1"
        for fig in ("curves.png", "confusion.png"):
            record(run, f"results/figures/{i}/{fig}", "plot_variant", start, end, log, cmd)
    (run / ".snakemake" / "log").mkdir(parents=True)
    (run / ".snakemake" / "log" / "2026-12-05T020329.500000.snakemake.log").write_text("")
    (run / "run.log").write_text("Finished jobid: 0 (Rule: default)\nElapsed time: 0:00:10.000000\n")
    return run


def test_a_benchmark_row_reads_as_numbers(tmp_path):
    path = tmp_path / "b.tsv"
    path.write_text(HEADER + "0.84\t0:00:00\t151.77\t304.65\t118.86\t129.63\t0.00\t0.01\tNA\t0.47\n")
    row = wb.read_benchmark(path)
    assert row["s"] == 0.84 and row["cpu_time"] == 0.47 and row["max_rss"] == 151.77
    assert row["mean_load"] is None and row["h:m:s"] == "0:00:00"


def test_a_benchmark_file_without_a_row_is_refused(tmp_path):
    (tmp_path / "b.tsv").write_text(HEADER)
    with pytest.raises(ValueError, match="without a data row"):
        wb.read_benchmark(tmp_path / "b.tsv")


def test_the_commands_of_a_shell_command():
    cmd = (
        f"{LAUNCH} --threads 2 train --split a > log 2>&1"
        f" && {LAUNCH} table-html --csv c --html h >> log 2>&1 && python /x/run_cifarflow.py --threads=1 plan"
    )
    assert wb.launcher_commands(cmd) == ["train", "table-html", "plan"]
    assert wb.launcher_commands("echo hi") == [] and wb.launcher_commands(None) == []


def test_jobs_are_one_per_job_not_one_per_output(run):
    jobs = wb.read_jobs(run)
    assert [j["rule"] for j in jobs] == ["train", "train", "train", "plot_variant", "plot_variant"]
    assert sorted(jobs[3]["outputs"]) == ["results/figures/0/confusion.png", "results/figures/0/curves.png"]


def test_overhead_is_wall_minus_training_and_the_training_parts(run):
    rows = [wb.job_times(run, j) for j in wb.read_jobs(run)]
    first = rows[0]
    assert first["wall_source"] == "benchmark" and first["wall"] == 1.0 and first["work"] == 0.5
    assert first["overhead"] == pytest.approx(0.5)
    assert first["startup"] == pytest.approx(0.2) and first["bookkeeping"] == pytest.approx(0.3)
    plot = rows[3]
    assert plot["wall_source"] == "metadata" and plot["wall"] == pytest.approx(2.5) and plot["work"] is None
    assert plot["overhead"] == pytest.approx(2.5) and plot["commands"] == ["plot-variant"]


def test_rules_summarise_median_and_p90(run):
    rules = wb.by_rule([wb.job_times(run, j) for j in wb.read_jobs(run)])
    train = rules["train"]
    assert train["jobs"] == 3 and train["wall_sum"] == pytest.approx(6.0)
    assert train["wall_median"] == pytest.approx(2.0) and train["wall_p90"] == pytest.approx(2.8)
    assert train["overhead_sum"] == pytest.approx(3.0) and train["work_sum"] == pytest.approx(3.0)
    assert train["startup_median"] == pytest.approx(0.5) and train["cpu_sum"] == pytest.approx(3.6)
    assert rules["plot_variant"]["work_sum"] is None and rules["plot_variant"]["cpu_sum"] is None


def test_quantile_interpolates_like_numpy():
    assert wb.quantile([3, 1, 2, 4], 0.5) == 2.5
    assert wb.quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9) == pytest.approx(9.1)
    assert wb.quantile([], 0.5) is None


def test_run_wall_and_timeline_from_run_log_and_the_snakemake_log_name(run):
    jobs = wb.read_jobs(run)
    wall = wb.run_wall(run, jobs)
    assert wall["wall"] == 10.0 and wall["source"] == "run.log Elapsed time" and wall["start"] == pytest.approx(T0)
    t = wb.timeline(jobs, wall, cores=2)
    assert t["before_first_job"] == pytest.approx(1.0) and t["after_last_job"] == pytest.approx(0.5)
    assert t["job_seconds"] == pytest.approx(5.85 + 2.5 + 3.5) and t["core_seconds"] == 20.0


def test_a_record_of_the_tools_own_run_wins(run):
    (run / wb.RUN_RECORD).write_text(
        json.dumps({"start": T0, "wall_seconds": 12.5, "self_cpu_seconds": 4.0, "children_cpu_seconds": 9.0})
    )
    result = wb.analyse(run, imports=False)
    assert result["wall_seconds"] == 12.5 and result["snakemake_cpu"]["self_cpu_seconds"] == 4.0
    assert "Snakemake's own CPU (main process): 4.0 s" in wb.markdown(result)


def test_importtime_output_adds_the_top_level_imports():
    text = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       100 |        100 |   _abc\n"
        "import time:      1000 |      50000 | numpy\n"
        "import time:       500 |      20000 |     numpy.linalg\n"
        "import time:       200 |      30000 | h5py\n"
        "import time:        10 |      40000 |   pandas\n"
    )
    parsed = wb.parse_importtime(text)
    assert parsed["seconds"] == pytest.approx(0.08)
    assert parsed["heavy"] == {"numpy": 0.05, "h5py": 0.03, "pandas": 0.04}


def test_import_shares_scale_by_the_rules_jobs():
    rules = {"train": {"commands": ["train"], "jobs": 4, "wall_sum": 8.0}, "x": {"commands": [], "jobs": 1}}
    shares = wb.import_shares(rules, {"commands": {"train": {"seconds": 0.5}}})
    assert shares == {"train": {"commands": ["train"], "import_seconds_per_job": 0.5, "share_of_wall": 0.25}}


def test_the_outputs_are_json_and_markdown(run, tmp_path):
    result = wb.analyse(run, imports=False)
    wb.write_outputs(result, tmp_path / "out" / "wb")
    assert json.loads((tmp_path / "out" / "wb.json").read_text())["jobs"] == 5
    md = (tmp_path / "out" / "wb.md").read_text()
    assert "| train | 3 | 6.0 | 2.00 / 2.80 | 3.0 | 1.00 / 1.40 | 3.0 | - |" in md
    assert "start-up (interpreter, imports, exit) median 0.50 s" in md


def test_the_modules_each_command_imports_are_read_from_the_cli():
    modules = wb.command_modules(wb.REPO / "workflow")
    assert modules["train"] == ["cifarflow.training.job"]
    assert modules["plot-variant"] == ["cifarflow.report.variant"]
    measured = wb.measure_imports(wb.REPO / "workflow", {"plan": modules["plan"]}, repeats=1)
    plan = measured["commands"]["plan"]
    assert plan["seconds"] > 0 and {"numpy", "h5py"} <= set(plan["heavy"])


@pytest.mark.workflow
def test_run_clones_a_commit_runs_its_quick_config_and_records_snakemakes_cpu(tmp_path):
    import subprocess

    repo = tmp_path / "repo"
    (repo / "config").mkdir(parents=True)
    (repo / "config" / "config.yaml").write_text("n: 2\n")
    (repo / "config" / "quick.yaml").write_text("n: 3\n")
    (repo / "Snakefile").write_text(
        'rule all:\n    input: expand("out/{i}.txt", i=range(config["n"]))\n\n'
        'rule one:\n    output: "out/{i}.txt"\n    log: "logs/one/{i}.log"\n'
        '    benchmark: "benchmarks/one/{i}.tsv"\n'
        '    shell: "echo {config[local_archive]} > {output} 2> {log}"\n'
    )
    for argv in (["init", "-q"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"]):
        subprocess.run(["git", "-C", str(repo), *argv], check=True)
    run_dir = wb.run_quick("HEAD", tmp_path / "scratch", tmp_path / "archive.tar.gz", 1, repo=repo)
    record = json.loads((run_dir / wb.RUN_RECORD).read_text())
    assert record["exit_status"] == 0 and record["wall_seconds"] > 0 and record["self_cpu_seconds"] > 0
    assert (run_dir / "out" / "2.txt").read_text().strip() == str((tmp_path / "archive.tar.gz").resolve())
    result = wb.analyse(run_dir, cores=1, imports=False)
    assert result["rules"]["one"]["jobs"] == 3 and result["rules"]["one"]["wall_source"] == ["benchmark"]
    assert result["wall_source"] == wb.RUN_RECORD and result["snakemake_cpu"]["self_cpu_seconds"] > 0


def test_a_lazily_registered_command_is_measured_by_its_module():
    modules = wb.command_modules(wb.REPO / "workflow")
    assert modules["manifest"] == ["cifarflow.manifest"] and modules["verify"] == ["cifarflow.verify"]
