"""Security and early-error cases of the fault suite (issue 14).

Every name that reaches a file path or a job command (split, augmentation, experiment set, variant,
grid expansion, comparison, `run` entry, the download's file name) is tried with shell injection
(`$(...)`, backticks, `;`), path traversal (`../`, `..`, absolute paths), an option (`--help`),
a newline and a 250-character name: from a config file and from `--config`, through the real
`snakemake -n` (and one real run). Each ends in one `cifarflow: error:` line naming the config key;
the marker file the injection would create never exists and nothing is written anywhere.

Then the values that used to fail late (inside a job, or never): non-finite numbers, huge sizes,
unknown classes, impossible holdouts, `run: []`, duplicate `source_classes`, unknown curve metrics,
comparisons whose variants do not share labels; and the documented settings that did not work
(`source_classes: null`, `figures.width`). Run with `python -m pytest -m faults tests/workflow/test_security.py`.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from test_faults import ERROR, VARIANTS, assert_refused, cli, fault_config, import_source, one_error_line

from cifarflow.config import check_config, resolve_comparisons, resolve_variants
from cifarflow.errors import ConfigError

from workflow_utils import REPO, SNAKEMAKE, scheduled_jobs, snakemake, write_config

pytestmark = pytest.mark.faults
WORKFLOW = pytest.mark.workflow

SET = "experiments.faults"


def payloads(marker: Path) -> dict[str, str]:
    return {
        "dollar": f"$(touch {marker})",
        "backtick": f"`touch {marker}`",
        "semicolon": f"x;touch {marker}",
        "traversal": "../escaped",
        "dotdot": "..",
        "absolute": str(marker.parent / "escaped"),
        "option": "--help",
        "newline": "a\nb",
        "long": "a" * 250,
    }


def _rename(mapping: dict, old: str, new: str) -> None:
    mapping[new] = mapping.pop(old)


def _set(cfg):
    return cfg["experiments"]["faults"]


# name-bearing key -> (patch(cfg, bad), the key the error must name, --config entry or None)
NAME_KEYS = {
    "split-name": (
        lambda c, b: c["splits"].update({b: {"type": "holdout", "val_size": 100}}),
        "splits",
        lambda b: f"splits={json.dumps({b: {'type': 'holdout'}})}",
    ),
    "augmentation-name": (
        lambda c, b: c["augmentations"].update({b: {"flip": 0.5}}),
        "augmentations",
        lambda b: f"augmentations={json.dumps({b: {}})}",
    ),
    "experiment-set-name": (
        lambda c, b: _rename(c["experiments"], "faults", b),
        "experiments",
        lambda b: f"experiments={json.dumps({b: {'variants': [{'name': 'a'}]}})}",
    ),
    "variant-name": (
        lambda c, b: _set(c)["variants"][0].update(name=b),
        f"{SET}.variants[0].name",
        None,
    ),
    "grid-expansion": (
        lambda c, b: _set(c)["variants"].append({"name": "g", "grid": {"augmentation": ["none", b]}}),
        f"{SET}.variants[1]",
        None,
    ),
    "comparison-name": (
        lambda c, b: _set(c).update(comparisons=[{"name": b, "type": "per_class", "variants": ["soft"]}]),
        f"{SET}.comparisons[0].name",
        None,
    ),
    "comparison-variant": (
        lambda c, b: _set(c).update(comparisons=[{"name": "c", "type": "per_class", "variants": [b]}]),
        f"{SET}.comparisons[0].variants[0]",
        None,
    ),
    "comparison-grid": (
        lambda c, b: _set(c).update(comparisons=[{"name": "c", "type": "vs_lambda", "grid": b}]),
        f"{SET}.comparisons[0].grid",
        None,
    ),
    "run-entry": (
        lambda c, b: c.update(run=[b]),
        "run[0]",
        lambda b: f"run={json.dumps([b])}",
    ),
    "variant-split": (
        lambda c, b: _set(c)["variants"][0].update(split=b),
        f"{SET}.variants[0].split",
        None,
    ),
    "variant-augmentation": (
        lambda c, b: _set(c)["variants"][0].update(augmentation=b),
        f"{SET}.variants[0].augmentation",
        None,
    ),
    "defaults-split": (
        lambda c, b: c["defaults"].update(split=b),
        "defaults.split",
        None,
    ),
    "overrides-augmentation": (
        lambda c, b: c.update(overrides={"augmentation": b}),
        "overrides.augmentation",
        lambda b: f"overrides={json.dumps({'augmentation': b})}",
    ),
    "download-file-name": (
        lambda c, b: c.update(download={"url": "https://example.org/" + b, "md5": "0" * 32}),
        "download.url",
        None,
    ),
}
# The download URL's last path part becomes resources/<name>: an absolute path or a directory
# part in the URL is only a path on the server, so those payloads give a harmless file name.
NOT_A_NAME_IN_URL = {"traversal", "absolute"}


def resolve(cfg: dict) -> None:
    check_config(cfg)
    resolve_comparisons(cfg, resolve_variants(cfg))


def hostile_config(archive, key, bad) -> dict:
    cfg = fault_config(archive, [dict(v) for v in VARIANTS[:1]])
    NAME_KEYS[key][0](cfg, bad)
    return cfg


def cases(tmp: Path):
    return [
        (k, p)
        for k in NAME_KEYS
        for p in payloads(tmp / "MARKER")
        if not (k == "download-file-name" and p in NOT_A_NAME_IN_URL)
    ]


# ---- every name-bearing key x every payload, in-process (the checks common.smk runs) ------------


@pytest.mark.parametrize("key", list(NAME_KEYS))
def test_every_hostile_name_is_refused_naming_the_key(archive, tmp_path, key):
    marker = tmp_path / "MARKER"
    for label, bad in payloads(marker).items():
        if key == "download-file-name" and label in NOT_A_NAME_IN_URL:
            continue
        with pytest.raises(ConfigError) as exc:
            resolve(hostile_config(archive, key, bad))
        msg = str(exc.value)
        assert "\n" not in msg and len(msg) < 400, (label, msg)
        assert f"config key {NAME_KEYS[key][1]}" in msg, (label, msg)
        assert not marker.exists()


def test_safe_names_of_the_shipped_config_pass():
    """The pattern is not so strict that the shipped names fail (every set, grid and comparison)."""
    import yaml

    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["run"] = None  # every set, the opt-in ones (best, the searches) too
    check_config(cfg)
    variants = resolve_variants(cfg)
    assert "bonus-softmax-augmentationflip_p05-lambda0.01" in variants and "best-mlp" in variants
    comps = resolve_comparisons(cfg, variants)  # templates, per_class, true_class_prob, curves: labels fit
    assert len(comps) == 13 and {c["type"] for c in comps.values()} >= {
        "templates",
        "per_class",
        "true_class_prob",
        "curves",
    }


def test_a_grid_that_expands_past_the_length_limit_is_refused(archive):
    cfg = fault_config(archive, [{"name": "n" * 60, "grid": {"lambda": [0, 0.1]}}])
    with pytest.raises(
        ConfigError,
        match=r"variants\[0\]\.name: variant name \(as the grid expands it\) 'n{50}",
    ):
        resolve(cfg)


def test_every_shell_placeholder_in_the_rules_is_quoted():
    """Defence in depth: even a name that passed validation cannot split a job's command."""
    unquoted = []
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for block in re.findall(r"shell:\n((?:\s+\".*\"\n)+)", smk.read_text()):
            unquoted += [(smk.name, p) for p in re.findall(r"\{[^{}]+\}", block) if not p.endswith(":q}")]
    assert unquoted == []


# ---- through the real Snakemake: a config file and --config --------------------------------------


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def assert_refused_before_any_job(proc, key: str, root: Path, before: set[str], wd: Path) -> None:
    text = proc.stdout + proc.stderr
    lines = [line for line in text.splitlines() if line.startswith(ERROR)]
    assert proc.returncode != 0 and len(lines) == 1, text[-3000:]
    assert "Traceback" not in text and f"config key {key}" in lines[0], lines[0]
    assert scheduled_jobs(proc) == {}
    assert not (root / "MARKER").exists()
    assert not any((wd / d).exists() for d in ("results", "logs", "resources", "benchmarks"))
    assert _snapshot(root) - before <= {str((wd / ".snakemake").relative_to(root))} | {
        p for p in _snapshot(root) if p.startswith(str((wd / ".snakemake").relative_to(root)))
    }, _snapshot(root) - before


@WORKFLOW
@pytest.mark.parametrize("key", list(NAME_KEYS))
def test_hostile_name_in_a_config_file_stops_the_dry_run(archive, tmp_path, key):
    """Each key with one payload (they rotate over keys; every pair is covered in-process above)."""
    root = tmp_path
    wd = root / "wd"
    wd.mkdir()
    options = [p for k, p in cases(root) if k == key]
    label = options[list(NAME_KEYS).index(key) % len(options)]
    write_config(wd, hostile_config(archive, key, payloads(root / "MARKER")[label]))
    before = _snapshot(root)
    proc = snakemake(wd, "-n", check=False)
    assert_refused_before_any_job(proc, NAME_KEYS[key][1], root, before, wd)


CLI_KEYS = [k for k, v in NAME_KEYS.items() if v[2]]


# each key with `$(...)` and one other payload, rotating (about 5 s per Snakemake start)
OTHER_PAYLOADS = ("backtick", "semicolon", "traversal", "absolute", "long")
CLI_CASES = [(k, label) for i, k in enumerate(CLI_KEYS) for label in ("dollar", OTHER_PAYLOADS[i % 5])]


@WORKFLOW
@pytest.mark.parametrize(("key", "label"), CLI_CASES)
def test_hostile_name_on_the_command_line_stops_the_dry_run(archive, tmp_path, key, label):
    root = tmp_path
    wd = root / "wd"
    wd.mkdir()
    write_config(wd, fault_config(archive, [dict(v) for v in VARIANTS[:1]]))
    before = _snapshot(root)
    proc = snakemake(
        wd,
        "-n",
        "--config",
        NAME_KEYS[key][2](payloads(root / "MARKER")[label]),
        check=False,
    )
    assert_refused_before_any_job(proc, NAME_KEYS[key][1], root, before, wd)


@WORKFLOW
def test_hostile_set_name_in_a_real_run_runs_nothing_and_writes_nothing(archive, tmp_path):
    root = tmp_path
    wd = root / "wd"
    wd.mkdir()
    cfg = fault_config(archive, [dict(v) for v in VARIANTS[:1]])
    cfg["experiments"] = {
        f"$(touch {root / 'MARKER'})": cfg["experiments"]["faults"],
        "../../escaped": cfg["experiments"]["faults"],
    }
    write_config(wd, cfg)
    before = _snapshot(root)
    proc = snakemake(wd, "--cores", "1", check=False)
    assert_refused_before_any_job(proc, "experiments", root, before, wd)


# ---- values that used to fail late (inside a job) or never ----------------------------------------


def _variant(**settings):
    return lambda c: _set(c)["variants"][0].update(settings)


def _comparisons(*comps, variants=None):
    def patch(c):
        if variants:
            _set(c)["variants"] = variants
        _set(c)["comparisons"] = list(comps)

    return patch


def _comparison_fault(comp, where, cause, variants=None):
    """An EARLY_FAULTS case: the set's one comparison is `comp`, refused at comparisons[0].<where>."""
    return _comparisons(comp, variants=variants), f"{SET}.comparisons[0].{where}", cause


LOGI = {"name": "logi", "model": "logistic", "classes": ["cat", "dog"]}
SOFT2 = {"name": "soft2", "model": "softmax", "classes": ["cat", "dog"]}
SOFT = {"name": "soft", "model": "softmax"}

EARLY_FAULTS = {
    # finite numbers: JSON schema lets .nan and .inf through
    "nan-step-factor": (
        _variant(schedule="step", step_factor=float("nan")),
        f"{SET}.variants[0].step_factor",
        "nan is not a finite number",
    ),
    "nan-flip": (
        lambda c: c["augmentations"].update(fliptrans={"flip": float("nan")}),
        "augmentations.fliptrans.flip",
        "not a finite",
    ),
    "inf-init-sigma": (
        _variant(init="normal", init_sigma=float("inf")),
        f"{SET}.variants[0].init_sigma",
        "inf is not a finite",
    ),
    "inf-eta": (
        _variant(eta=float("inf")),
        f"{SET}.variants[0].eta",
        "inf is not a finite",
    ),
    "nan-lambda-in-defaults": (
        lambda c: c["defaults"].update({"lambda": float("nan")}),
        "defaults.lambda",
        "nan is not a finite",
    ),
    "minus-inf-in-overrides": (
        lambda c: c.update(overrides={"eta_min": float("-inf")}),
        "overrides.eta_min",
        "-inf is not a finite",
    ),
    # sane upper bounds: a huge value is an error, not a MemoryError
    "huge-epochs": (
        _variant(epochs=10**9),
        f"{SET}.variants[0].epochs",
        "is greater than the maximum of 1000",
    ),
    "huge-hidden": (
        _variant(model="mlp", hidden=[10**7]),
        f"{SET}.variants[0].hidden[0]",
        "maximum of 8192",
    ),
    "too-many-mlp-weights": (
        _variant(model="mlp", hidden=[8192, 8192, 8192]),
        f"{SET}.variants[0].hidden",
        "more than the 20,000,000 allowed",
    ),
    "huge-batch": (
        _variant(batch_size=10**8),
        f"{SET}.variants[0].batch_size",
        "maximum of 60000",
    ),
    "batch-above-train-limit": (
        _variant(train_limit=100, batch_size=200),
        f"{SET}.variants[0].batch_size",
        "more than the 100 images of train_limit",
    ),
    # classes and sizes known before any job
    "unknown-class": (
        _variant(classes=["cat", "unicorn"]),
        f"{SET}.variants[0].classes",
        "unknown class 'unicorn'",
    ),
    "class-name-with-mathtext": (
        _variant(classes=["cat", "$x^2$"]),
        f"{SET}.variants[0].classes[1]",
        "does not match",
    ),
    "duplicate-source-classes": (
        lambda c: c.update(source_classes=["cat", "dog", "cat"]),
        "source_classes",
        "non-unique",
    ),
    "holdout-not-a-multiple": (
        lambda c: c["splits"]["full"].update(val_size=105),
        "splits.full.val_size",
        "not a multiple of the 10 source_classes",
    ),
    "holdout-of-every-image": (
        lambda c: c.update(local_archive=None) or c["splits"]["full"].update(val_size=50000),
        "splits.full.val_size",
        "leaves no training image",
    ),
    "batches-split-without-val": (
        lambda c: c["splits"]["basic"].pop("val"),
        "splits.basic",
        "'val' is a required property",
    ),
    "run-empty": (lambda c: c.update(run=[]), "run", "selects no experiment set"),
    # comparisons: metrics that exist, labels that fit the models compared
    "curves-unknown-metric": _comparison_fault(
        {"name": "cv", "type": "curves", "variants": ["soft"], "metrics": ["val_accuracy"]},
        "metrics[0]",
        "'val_accuracy' is not one of",
    ),
    "metrics-on-per-class": _comparison_fault(
        {"name": "pc", "type": "per_class", "variants": ["soft"], "metrics": ["val_acc"]},
        "metrics",
        "only a curves comparison draws metrics",
    ),
    "templates-softmax-vs-logistic": _comparison_fault(
        {"name": "tm", "type": "templates", "variants": ["soft2", "logi"]},
        "variants",
        "'logi' is a logistic (one output) on cat, dog",
        variants=[SOFT2, LOGI],
    ),
    "per-class-on-different-classes": _comparison_fault(
        {"name": "pc", "type": "per_class", "variants": ["soft", "soft2"]},
        "variants",
        "'soft' is a softmax on all classes",
        variants=[SOFT, SOFT2],
    ),
    "figure-width-out-of-range": (
        lambda c: c.update(figures={"dpi": 100, "width": 1000}),
        "figures.width",
        "maximum of 20",
    ),
}


@WORKFLOW
@pytest.mark.parametrize("case", list(EARLY_FAULTS))
def test_bad_value_fails_the_dry_run_naming_the_key(archive, tmp_path, case):
    patch, key, cause = EARLY_FAULTS[case]
    cfg = fault_config(archive, [dict(v) for v in VARIANTS[:1]], source_classes=list(_source_classes()))
    patch(cfg)
    wd = tmp_path / "wd"
    wd.mkdir()
    write_config(wd, cfg)
    before = _snapshot(tmp_path)
    proc = snakemake(wd, "-n", check=False)
    assert_refused_before_any_job(proc, key, tmp_path, before, wd)
    line = next(line for line in proc.stderr.splitlines() if line.startswith(ERROR))
    assert cause in line, line


def _source_classes():
    from cifarflow import CIFAR10_CLASSES

    return CIFAR10_CLASSES


# ---- documented settings that did not work ---------------------------------------------------


@WORKFLOW
def test_source_classes_null_imports_with_the_source_own_classes(archive, tmp_path):
    import h5py

    wd = tmp_path / "wd"
    wd.mkdir()
    write_config(wd, fault_config(archive, [dict(v) for v in VARIANTS[:1]], source_classes=None))
    snakemake(wd, "--cores", "1", "results/data/cifar10.h5")
    with h5py.File(wd / "results" / "data" / "cifar10.h5", "r") as f:
        assert f.attrs is not None and f["train"]["labels"].shape[0] == 1000
    assert "usage:" not in (wd / "logs" / "data" / "import.log").read_text()


def _png_size(path: Path) -> tuple[int, int]:
    head = Path(path).read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_figures_width_scales_every_saved_figure(tmp_path):
    from matplotlib.figure import Figure

    from cifarflow.report.plots import save

    sizes = {}
    for width in (6.4, 3.2, 12.8):
        fig = Figure(figsize=(8.0, 4.0))
        fig.add_subplot().plot([0, 1], [1, 0])
        stem = tmp_path / f"width{round(width * 10)}"
        save(fig, stem, dpi=50, width=width)
        sizes[width] = _png_size(stem.with_suffix(".png"))
    assert sizes[6.4] == (
        400,
        200,
    )  # 8 x 4 inches at 50 dpi: width 6.4 leaves figures as they were
    # widths scale exactly; a height may grow a little where the fixed-size text needs the room
    assert sizes[3.2][0] == 200 and 100 <= sizes[3.2][1] <= 120
    assert sizes[12.8] == (800, 400)


def test_import_cli_accepts_json_null_classes(archive, tmp_path):
    out = tmp_path / "raw.h5"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cifarflow",
            "import",
            "--source",
            str(archive),
            "--classes",
            "null",
            "--out",
            str(out),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 0


def test_empty_validation_set_is_refused_before_training(tmp_path, archive):
    """A class subset absent from the validation images fails the job naming the config key,
    not with a ZeroDivisionError after training."""
    import dataclasses

    import numpy as np

    from cifarflow.data.sources import read_source
    from cifarflow.data.splits import make_split
    from cifarflow.data.subset import load_variant_data

    split = make_split(
        read_source(str(archive)),
        {"type": "holdout", "val_size": 100, "seed": 0},
        name="full",
    )
    keep = ~np.isin(split.val_labels, [3, 5])  # no cat and no dog left in validation
    split = dataclasses.replace(split, val_labels=split.val_labels[keep], val_images=split.val_images[keep])
    with pytest.raises(
        ConfigError,
        match=r"config key classes \(variant v\): the validation set holds no image of cat, dog",
    ):
        load_variant_data(split, {"name": "v", "classes": ["cat", "dog"], "train_limit": None})
    assert len(load_variant_data(split, {"name": "v", "classes": ["cat", "bird"], "train_limit": None}).val_labels) > 0


def test_split_with_an_empty_test_set_is_refused_naming_the_split(tmp_path, archive):
    """A source without test images fails the split job (not the training job, hours later)."""
    import dataclasses

    from cifarflow.data.sources import read_source
    from cifarflow.data.splits import write_raw

    raw = read_source(str(archive))
    raw = dataclasses.replace(raw, test_images=raw.test_images[:0], test_labels=raw.test_labels[:0])
    write_raw(raw, tmp_path / "raw.h5", source_path="generated", source_sha256="")
    out = tmp_path / "split_full.h5"
    spec = json.dumps({"type": "holdout", "val_size": 100, "seed": 0})
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cifarflow",
            "split",
            "--raw",
            str(tmp_path / "raw.h5"),
            "--name",
            "full",
            "--spec",
            spec,
            "--out",
            str(out),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1 and proc.stderr.startswith(ERROR), proc.stderr
    assert (
        proc.stderr.strip().count("\n") == 0
        and "config key splits.full: the test set of this split is empty" in proc.stderr
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw.h5"]


def test_plan_ids_stay_short_and_unique_with_many_long_class_names():
    """Class names end up in plan file names: a long list is shortened and keyed by a hash."""
    from cifarflow.config import plan_id

    base = {
        "split": "full",
        "augmentation": "none",
        "seed": 0,
        "epochs": 3,
        "shuffle": True,
        "train_limit": None,
    }
    short = plan_id({**base, "classes": ["cat", "dog"]})
    assert short == "full_none_seed0_ep3_cat-dog"  # ids of ordinary plans do not change
    names = [f"class{i:03d}-" + "x" * 50 for i in range(40)]
    ids = {
        plan_id({**base, "classes": names}),
        plan_id({**base, "classes": names[::-1]}),
        plan_id({**base, "classes": names[:39]}),
    }
    assert len(ids) == 3 and all(len(i) <= 120 and re.fullmatch(r"[A-Za-z0-9_.+-]+", i) for i in ids)


def test_curve_metrics_of_the_schema_are_the_ones_config_checks():
    from cifarflow.config import HISTORY_METRICS, load_schema

    comp = load_schema()["properties"]["experiments"]["additionalProperties"]["properties"]["comparisons"]["items"]
    assert comp["properties"]["metrics"]["items"]["enum"] == list(HISTORY_METRICS)


# ---- issue 25: config text in the HTML report, configs that are code, outputs kept inside ----------

PAYLOAD = "</script><script>alert({})</script>"


class _Page(HTMLParser):
    """The elements of an HTML page as a browser's tokenizer splits them, with each script's text."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.elements, self.scripts, self._script = [], [], None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        if tag == "script":
            self._script = [dict(attrs), ""]
            self.scripts.append(self._script)

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = None

    def handle_data(self, data):
        if self._script is not None:
            self._script[1] += data


def test_report_params_read_back_as_written_and_hold_no_markup():
    from cifarflow.config import canonical_json, report_json

    value = {"title": "a </script> & <b>", "classes": ["cat", PAYLOAD.format(1)], "n": [1, 2.5, None]}
    text = report_json(value)
    assert json.loads(text) == value and not {"<", ">", "&"} & set(text)
    assert report_json({"figures": {"dpi": 50}}) == canonical_json({"figures": {"dpi": 50}})  # no rerun


def test_every_rule_in_the_report_passes_its_json_params_through_report_json():
    """Snakemake embeds the params of each job whose outputs are in the report, unescaped, in the
    report's <script> block: a rule with report() outputs never uses canonical_json (a rule added
    later included), except on `statistics`, which holds numbers only (the schema allows no text)."""
    offenders = []
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"\n(?=(?:rule|checkpoint) )", smk.read_text()):
            if "=report(" in block and re.search(r"canonical_json\((?!STATISTICS\))", block):
                offenders.append((smk.name, block.split(":", 1)[0]))
    assert offenders == []


@WORKFLOW
@pytest.mark.slow
def test_config_text_never_becomes_an_element_of_the_html_report(tmp_path):
    """A comparison title, set titles and descriptions, class names (of variants and of a search's
    base settings) that close Snakemake's <script> block: the report holds no element of theirs,
    and its results block still parses, with the text in it, escaped."""
    from cifarflow import CIFAR10_CLASSES

    from archives import make_python_archive

    classes = list(CIFAR10_CLASSES)
    classes[1] = PAYLOAD.format(2)
    make_python_archive(tmp_path / "a.tar.gz", n_per_batch=40, n_test=40, seed=3, class_names=classes)
    pair = classes[:2]
    wd = tmp_path / "wd"
    wd.mkdir()
    config = {
        "local_archive": str(tmp_path / "a.tar.gz"),
        "source_classes": classes,
        "splits": {"full": {"type": "holdout", "val_size": 20, "seed": 0}},
        "defaults": {"epochs": 1, "batch_size": 20, "eval_train": 50},
        "figures": {"dpi": 50, "pdf": False},
        "experiments": {
            "shown": {
                "title": PAYLOAD.format(3),
                "description": '<img src=x onerror="alert(4)">',
                "variants": [{"name": "a", "classes": pair}],
                "comparisons": [{"name": "c", "type": "per_class", "variants": ["a"], "title": PAYLOAD.format(1)}],
            },
            "searched": {
                "title": PAYLOAD.format(5),
                "search": {
                    "name": "s",
                    "method": "random",
                    "n": 1,
                    "base": {"model": "softmax", "classes": pair},
                    "space": {"eta": {"log_uniform": [1.0e-4, 1.0e-2]}},
                    "final": {"seeds": [1]},
                },
            },
        },
    }
    write_config(wd, config)
    targets = ["results/figures/shown/comparisons/c.png", "results/search/searched/s/settings.png"]
    snakemake(wd, "--cores", "2", *targets)
    snakemake(wd, "--report", "report.html", *targets)
    page = _Page((wd / "report.html").read_text())
    injected = [text for attrs, text in page.scripts if "alert(" in text and attrs.get("id") != "results"]
    assert injected == []
    assert not [(tag, attrs) for tag, attrs in page.elements if any(a.startswith("on") for a in attrs)]
    (results,) = [text for attrs, text in page.scripts if attrs.get("id") == "results"]
    entries = json.loads(results.strip().removeprefix("var results = ").removesuffix(";"))
    params = {Path(path).name: entry["job_properties"]["params"] for path, entry in entries.items()}
    assert "\\u003c/script\\u003e\\u003cscript\\u003ealert(1)" in params["c.png"]
    assert "\\u003c/script\\u003e\\u003cscript\\u003ealert(2)" in params["settings.png"]


def _yte_config(archive, marker: Path) -> str:
    """A valid config made a YTE template: its `run` is an expression that touches `marker`."""
    cfg = fault_config(archive, [dict(v) for v in VARIANTS[:1]])
    cfg.pop("run", None)
    text = yaml.safe_dump(cfg, sort_keys=False)
    return f"__use_yte__: true\nrun: ?__import__('pathlib').Path({str(marker)!r}).touch()\n{text}"


@WORKFLOW
def test_check_config_refuses_a_yte_template_which_snakemake_would_run(archive, tmp_path):
    marker = tmp_path / "MARKER"
    wd = tmp_path / "wd"
    wd.mkdir()
    (wd / "config.yaml").write_text(_yte_config(archive, marker))
    proc = cli("check-config", wd / "config.yaml")
    assert proc.returncode == 1 and proc.stderr.strip().count("\n") == 0, proc.stderr
    line = one_error_line(proc.stderr, "config.yaml", "__use_yte__", "YTE template", "Python code")
    assert "refusing" in line and not marker.exists()
    # the refusal is about a live payload: Snakemake runs the template while it reads the file, -n or not
    snakemake(wd, "-n", check=False)
    assert marker.exists()


def test_check_config_refuses_python_tags_of_snakemakes_yaml_loader(tmp_path):
    for tag in ("!!python/name:os.system", "!!python/object/apply:os.system ['true']"):
        path = tmp_path / "tagged.yaml"
        path.write_text(f"local_archive: null\nrun: {tag}\n")
        proc = cli("check-config", path)
        assert proc.returncode == 1, proc.stderr
        one_error_line(proc.stderr, "tagged.yaml", tag.split()[0], "line 2", "Python object")


# a link planted where the workflow writes -> what it points to (a file or a folder outside)
PLANTED_LINKS = {
    "benchmark-file": ("benchmarks/train/soft/seed0.tsv", "file"),
    "log-folder": ("logs/train/soft", "folder"),
    "results-folder": ("results/runs/soft", "folder"),
}


def _contents(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@WORKFLOW
@pytest.mark.parametrize("case", list(PLANTED_LINKS))
def test_no_output_is_written_through_a_planted_link(archive, tmp_path, case):
    where, kind = PLANTED_LINKS[case]
    wd = tmp_path / "wd"
    wd.mkdir()
    write_config(wd, fault_config(archive, [dict(v) for v in VARIANTS[:1]]))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "seed0.tsv").write_text("someone else's file\n")
    before = _contents(outside)
    link = wd / where
    link.parent.mkdir(parents=True)
    link.symlink_to(outside / "seed0.tsv" if kind == "file" else outside)
    proc = snakemake(wd, "--cores", "1", "results/runs/soft/seed0/metrics.json", check=False)
    text = proc.stdout + proc.stderr
    lines = [line for line in text.splitlines() if line.startswith(ERROR)]
    assert proc.returncode != 0 and len(lines) == 1 and "Traceback" not in text, text[-3000:]
    assert f"{where!r} is a symbolic link" in lines[0], lines[0]
    assert _contents(outside) == before and scheduled_jobs(proc) == {}


MODULE_SNAKEFILE = """\
configfile: "config.yaml"


module cifarflow:
    snakefile:
        {snakefile!r}
    config:
        config
    prefix:
        {prefix!r}


use rule * from cifarflow as cifarflow_*
"""


@WORKFLOW
@pytest.mark.parametrize("prefix", ["../escaped", "cifar/../../escaped", "ABSOLUTE"])
def test_a_module_prefix_outside_the_consumers_folder_is_refused(archive, tmp_path, prefix):
    wd = tmp_path / "consumer"
    wd.mkdir()
    prefix = str(tmp_path / "escaped") if prefix == "ABSOLUTE" else prefix
    (wd / "Snakefile").write_text(
        MODULE_SNAKEFILE.format(snakefile=str(REPO / "workflow" / "Snakefile"), prefix=prefix)
    )
    write_config(wd, fault_config(archive, [dict(v) for v in VARIANTS[:1]]))
    proc = subprocess.run(
        [SNAKEMAKE, "-s", str(wd / "Snakefile"), "-d", str(wd), "-n"], capture_output=True, text=True, timeout=300
    )
    text = proc.stdout + proc.stderr
    lines = [line for line in text.splitlines() if line.startswith(ERROR)]
    assert proc.returncode != 0 and len(lines) == 1 and "Traceback" not in text, text[-3000:]
    assert "module prefix" in lines[0] and "outside the working directory" in lines[0], lines[0]
    assert not (tmp_path / "escaped").exists()


def test_a_class_folder_named_with_a_newline_is_one_line(tmp_path):
    import numpy as np

    from archives import encode_image, make_folder_archive

    image = encode_image(np.zeros((32, 32, 3), np.uint8))
    source = tmp_path / "folders.tar.gz"
    make_folder_archive(
        source, n_train_per_class=2, n_test_per_class=1, extra={f"{s}/x\ny/0000.png": image for s in ("train", "test")}
    )
    out = tmp_path / "cifar10.h5"
    # the config's source_classes expected (the workflow's default), then any classes (source_classes: null)
    assert_refused(import_source(source, out), "unexpected class folder", r"'train/x\ny'", absent=[out])
    proc = cli("import", "--source", source, "--classes", "null", "--out", out)
    assert_refused(proc, "class folders", r"'x\ny'", "not printable", absent=[out])
