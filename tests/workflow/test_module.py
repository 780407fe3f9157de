"""cifarflow used as a Snakemake module by a consumer workflow in another directory.

The consumer declares `module cifarflow: snakefile: <repo>/workflow/Snakefile` with a `prefix:` and
`use rule * from cifarflow as cifarflow_*`, and runs a tiny config end to end. Snakemake runs with
no PYTHONPATH and from a third working directory: the package must be found from the rule files'
own location and the jobs must start it through workflow/scripts/run_cifarflow.py. The host's
sys.path, PATH and environment stay as they were, but for the variable the module declares.
(The module read from a git tag, as snakedeploy deploys it: test_deploy.py.)
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from cifarflow.io import package_digest

from workflow_utils import REPO, SNAKEMAKE, tiny_config, write_config

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

PREFIX = "cifar"

CONSUMER_SNAKEFILE = """\
import json
import os
import sys

HOST_BEFORE = {{"sys.path": list(sys.path), "environ": dict(os.environ)}}


configfile: "config.yaml"


module cifarflow:
    snakefile:
        {snakefile!r}
    config:
        config
    prefix:
        "{prefix}"


use rule * from cifarflow as cifarflow_*


with open("host_environment.json", "w") as _fh:  # what the module changed in the host
    json.dump({{"before": HOST_BEFORE, "after": {{"sys.path": sys.path, "environ": dict(os.environ)}}}}, _fh)


rule all:
    default_target: True
    input:
        rules.cifarflow_all.input,
"""


@pytest.fixture(scope="module")
def consumer(tmp_path_factory, archive) -> tuple[Path, subprocess.CompletedProcess]:
    """A consumer workflow that ran to the end with PYTHONPATH unset, started from another folder."""
    wd = tmp_path_factory.mktemp("consumer")
    (wd / "Snakefile").write_text(
        CONSUMER_SNAKEFILE.format(snakefile=str(REPO / "workflow" / "Snakefile"), prefix=PREFIX)
    )
    write_config(wd, tiny_config(archive))
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [SNAKEMAKE, "-s", str(wd / "Snakefile"), "-d", str(wd), "--cores", "2"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, f"consumer run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return wd, proc


def test_every_module_output_is_under_the_prefix(consumer):
    wd, _ = consumer
    out = wd / PREFIX / "results"
    for variant in ("soft", "logi"):
        for name in ("weights.h5", "history.csv", "metrics.json", "predictions.h5"):
            assert (out / "runs" / variant / "seed0" / name).stat().st_size > 0
        for fig in ("curves", "confusion", "templates"):
            assert (out / "figures" / "tiny" / variant / f"{fig}.png").stat().st_size > 0
            assert (out / "figures" / "tiny" / variant / f"{fig}.pdf").stat().st_size > 0
    assert (out / "figures" / "tiny" / "comparisons" / "pc.png").stat().st_size > 0
    assert (out / "summary.md").stat().st_size > 0
    assert (wd / PREFIX / "logs" / "train" / "soft" / "seed0.log").exists()
    assert (wd / PREFIX / "benchmarks" / "train" / "soft" / "seed0.tsv").exists()
    # nothing written beside the prefix: paths in shell commands follow the rules' (prefixed) outputs
    assert not (wd / "results").exists()
    assert not (wd / "logs").exists()


def test_tables_list_every_variant_of_the_consumer_config(consumer):
    wd, _ = consumer
    for table in ("results/tables/summary.csv", "results/tables/tiny/summary.csv"):
        with open(wd / PREFIX / table, newline="") as f:
            rows = list(csv.DictReader(f))
        assert sorted(r["variant"] for r in rows) == ["logi", "soft"]


def test_jobs_ran_this_checkouts_package_without_pythonpath(consumer):
    wd, _ = consumer
    metrics = json.loads((wd / PREFIX / "results" / "runs" / "soft" / "seed0" / "metrics.json").read_text())
    assert metrics["provenance"]["package_sha256"] == package_digest()
    assert metrics["variant"] == "soft"
    assert (
        metrics["provenance"]["git_commit"]
        == subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    )


def test_the_host_keeps_its_sys_path_path_and_environment_but_the_declared_variable(consumer):
    """Nothing changed but what Snakemake changes for any module and the one variable cifarflow declares."""
    wd, _ = consumer
    seen = json.loads((wd / "host_environment.json").read_text())
    before, after = seen["before"], seen["after"]
    # Snakemake itself puts the folder of every local Snakefile it includes first on sys.path
    added = [p for p in after["sys.path"] if p not in before["sys.path"]]
    assert set(added) <= {str(REPO / "workflow"), str(REPO / "workflow" / "rules")}, added
    assert [p for p in after["sys.path"] if p not in added] == before["sys.path"]
    assert after["environ"]["PATH"] == before["environ"]["PATH"]
    changed = {
        k
        for k in before["environ"].keys() | after["environ"].keys()
        if before["environ"].get(k) != after["environ"].get(k)
    }
    assert changed == {"CIFARFLOW_LAUNCHER"}  # declared by the module with `envvars:`
    assert after["environ"]["CIFARFLOW_LAUNCHER"] == str(REPO / "workflow" / "scripts" / "run_cifarflow.py")


def test_the_modules_rules_run_under_the_consumers_names(consumer):
    _, proc = consumer
    log = proc.stdout + proc.stderr
    assert "rule cifarflow_train:" in log
    assert "rule train:" not in log


def test_the_modules_run_messages_stay_out_of_the_consumers_run(consumer):
    """Snakemake runs onsuccess/onerror of the main Snakefile only: the consumer's run ends without
    cifarflow's message (whose paths and report command would be the module's, not the host's)."""
    wd, proc = consumer
    assert proc.returncode == 0
    assert "cifarflow: the run is complete" not in proc.stdout + proc.stderr
    assert (wd / PREFIX / "results" / "tables" / "tiny" / "summary.html").stat().st_size > 0  # the tables' pages


def test_report_of_the_consumer_run_as_a_zip(consumer, tmp_path):
    """`snakemake --report X.zip`: the report archive holds the HTML page and the module's figures."""
    wd, _ = consumer
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [SNAKEMAKE, "-s", str(wd / "Snakefile"), "-d", str(wd), "--report", str(tmp_path / "report.zip")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = zipfile.ZipFile(tmp_path / "report.zip").namelist()
    assert "report/report.html" in names
    pngs = [n for n in names if n.endswith(".png")]
    # 2 variants x 3 figures + 1 comparison and its per-seed strip, each a report item of the module's rules
    assert len(pngs) == 8, pngs
