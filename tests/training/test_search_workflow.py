"""The search's Snakemake wiring in miniature, run by the real Snakemake (the design in search.py).

Rounds are checkpoints whose files are named by a digest of the round's trials; a trial is a job
that writes a history with a synthetic validation accuracy (and a test accuracy the choice must
ignore). Checks: `-n` lists round 1 only; one more round trains only the new round; a larger `n`
trains only the new trials of round 1 (and the later rounds, whose settings follow); a rerun with
the same config has nothing to do.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

PACKAGE = Path(__file__).resolve().parents[2] / "workflow"

SNAKEFILE = r'''
import json, sys
sys.path.insert(0, PACKAGE)
from cifarflow.training import search as S

SEARCH = S.check_search(config["search"], "experiments.toy.search")
SET, NAME, LAST = "toy", SEARCH["name"], S.n_rounds(SEARCH)

wildcard_constraints:
    k=r"\d+",
    digest=r"[0-9a-f]{10}",


def scored(upto):
    """Scores of rounds 1..upto and their files, each from its checkpoint (incomplete -> pending)."""
    scores, files = {}, []
    for r in range(1, upto + 1):
        trials = S.trials_for_round(SET, SEARCH, r, scores)
        f = checkpoints.search_round.get(k=r, digest=S.round_digest(trials)).output[0]
        files.append(f)
        with open(f) as fh:
            scores.update(S.scores_from_record(json.load(fh)))
    return scores, files


def trial_round(name):
    return int(name.rsplit("-r", 1)[1].split("-t")[0])


def trial_settings(w, input):
    k = trial_round(w.trial)
    trials = S.trials_for_round(SET, SEARCH, k, scored(k - 1)[0])
    return json.dumps({t.name: t.settings for t in trials}[w.trial], sort_keys=True)


def round_inputs(w):
    k = int(w.k)
    scores, files = scored(k - 1)
    trials = S.trials_for_round(SET, SEARCH, k, scores)
    if S.round_digest(trials) != w.digest:
        raise ValueError(f"round {k}: {w.digest} is not the digest of the configured trials")
    return {"prev": files, "hist": [f"results/runs/{t.name}/history.csv" for t in trials]}


rule all:
    input: lambda w: [f"results/search/{SET}/{NAME}/chosen.json"] + scored(LAST)[1]


rule train:
    input: lambda w: scored(trial_round(w.trial) - 1)[1]
    output: "results/runs/{trial}/history.csv"
    params: settings=trial_settings
    run:
        import math
        s = json.loads(params.settings)
        acc = 1 / (1 + (math.log10(s["lambda"]) + 3) ** 2)
        with open(output[0], "w") as fh:
            fh.write(f"epoch,val_acc,test_acc\n1,{acc / 2},{1 - acc}\n2,{acc},{1 - acc}\n")


checkpoint search_round:
    input: unpack(round_inputs)
    output: f"results/search/{SET}/{NAME}/round{{k}}-{{digest}}.json"
    run:
        import csv
        scores = {}
        for f in input.prev:
            with open(f) as fh:
                scores.update(S.scores_from_record(json.load(fh)))
        for f in input.hist:
            with open(f) as fh:
                rows = [{"epoch": r["epoch"], "val_acc": float(r["val_acc"])} for r in csv.DictReader(fh)]
            scores[f.split("/")[2]] = S.validation_summary(rows)["val_acc"]
        with open(output[0], "w") as fh:
            json.dump(S.round_record(SET, SEARCH, int(wildcards.k), scores), fh, indent=1)


rule chosen:
    input: lambda w: scored(LAST)[1]
    output: f"results/search/{SET}/{NAME}/chosen.json"
    run:
        with open(input[-1]) as fh:
            chosen = json.load(fh)["chosen"]
        with open(output[0], "w") as fh:
            json.dump(chosen, fh)
'''


def snakemake(workdir: Path, n: int, rounds: int, dry: bool = False) -> str:
    block = {
        "name": "lam",
        "method": "coarse_to_fine",
        "n": n,
        "rounds": rounds,
        "top_k": 2,
        "space": {"lambda": {"log_uniform": [1.0e-6, 1.0]}},
    }
    (workdir / "config.json").write_text(json.dumps({"search": block}))
    cmd = [sys.executable, "-m", "snakemake", "--cores", "1", "--configfile", "config.json"]
    proc = subprocess.run(
        cmd + (["-n"] if dry else []), check=False, cwd=workdir, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def trained(log: str) -> list[str]:
    return sorted(re.findall(r"output: results/runs/([^/]+)/history\.csv", log))


def test_search_rounds_as_checkpoints_dry_run_reuse_and_replay(tmp_path):
    (tmp_path / "Snakefile").write_text(
        SNAKEFILE.replace("sys.path.insert(0, PACKAGE)", f"sys.path.insert(0, {str(PACKAGE)!r})")
    )
    dry = snakemake(tmp_path, 3, 2, dry=True)
    assert trained(dry) == ["toy-lam-r1-t0", "toy-lam-r1-t1", "toy-lam-r1-t2"]  # round 2 waits for round 1's checkpoint
    assert re.search(r"search_round\s+1\b", dry)

    first = snakemake(tmp_path, 3, 2)
    assert len(trained(first)) == 6
    chosen = json.loads((tmp_path / "results/search/toy/lam/chosen.json").read_text())
    assert chosen["round"] in (1, 2)

    more_rounds = snakemake(tmp_path, 3, 3)
    assert trained(more_rounds) == ["toy-lam-r3-t0", "toy-lam-r3-t1", "toy-lam-r3-t2"]

    larger_n = snakemake(tmp_path, 4, 3)
    new = trained(larger_n)
    assert "toy-lam-r1-t3" in new and not {"toy-lam-r1-t0", "toy-lam-r1-t1", "toy-lam-r1-t2"} & set(new)

    again = snakemake(tmp_path, 4, 3)
    assert trained(again) == [] and "Nothing to be done" in again
