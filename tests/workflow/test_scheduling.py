"""Answers first: the jobs results/answers.md waits for run before the other trainings and tables,
and the figures and the reproducibility retraining after everything else (rule priorities, read
from a real Snakemake dry run)."""

from __future__ import annotations

import re

import pytest

from workflow_utils import small_config, snakemake, write_config

pytestmark = [pytest.mark.workflow]


def _jobs(text: str) -> list[dict]:
    """Each job of a dry run's listing: its rule, wildcards and priority (0 when not printed)."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?(?:rule|checkpoint) \S+:\n)", text):
        head = re.match(r"(?:local)?(?:rule|checkpoint) (\S+):\n", block)
        if not head:
            continue
        wildcards = re.search(r"^\s+wildcards: (.*)$", block, re.M)
        priority = re.search(r"^\s+priority: (-?\d+)$", block, re.M)
        jobs.append(
            {
                "rule": head.group(1),
                "wildcards": dict(w.split("=", 1) for w in wildcards.group(1).split(", ")) if wildcards else {},
                "priority": int(priority.group(1)) if priority else 0,
            }
        )
    return jobs


def test_what_the_answers_wait_for_runs_first_and_the_figures_last(archive, tmp_path):
    cfg = small_config(archive, statistics={"n_resamples": 99})
    cfg["experiments"]["asked"] = {
        "defaults": {"split": "basic", "seeds": [0, 1]},
        "variants": [{"name": "a-plain", "momentum": 0.0}, {"name": "a-heavy", "momentum": 0.9}],
        "questions": [{"name": "momentum", "kind": "compare", "variants": ["a-heavy", "a-plain"]}],
    }
    write_config(tmp_path, cfg)
    jobs = _jobs(snakemake(tmp_path, "-n", "--cores", "2").stdout)
    by_rule: dict[str, set[int]] = {}
    for j in jobs:
        by_rule.setdefault(j["rule"], set()).add(j["priority"])
    train = {(j["wildcards"]["variant"], j["priority"]) for j in jobs if j["rule"] == "train"}
    asked = {v for v, _ in train if v.startswith("a-")}
    assert asked == {"a-plain", "a-heavy"} and len(train) > len(asked)
    assert all(p == 1 for v, p in train if v in asked)  # the question's set: before the others
    assert all(p == 0 for v, p in train if v not in asked)  # a set without a question
    assert by_rule["plan_epochs"] == {2}  # every training waits for its plan: plans first
    assert by_rule["answers"] == {1} and by_rule["paired_asked"] == {1}
    assert by_rule["paired_small"] == {0} and by_rule["set_tables"] == {0}
    assert by_rule["figures_asked"] == by_rule["figures_small"] == {-1}
    assert by_rule["verify_train"] == {-1}
