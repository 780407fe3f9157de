# Hyperparameter searches (issue 17): a set's `search:` block becomes trials (training jobs), rounds
# (checkpoints that read the trials' validation accuracy only), final runs of the chosen setting
# with fresh seeds (the only runs of a search whose test numbers are read) and a report.
#
#   results/search/<set>/<search>/trials/<trial>/    a trial's run files (as results/runs/<variant>/)
#   results/search/<set>/<search>/round<k>-<digest>.json   round k's trials, ranked by validation accuracy
#   results/search/<set>/<search>/final/seed<s>/     the chosen setting retrained with seed s
#   results/search/<set>/<search>/{trials,final}.{csv,md}, chosen.json, settings.png, parallel.png, summary.md
#
# Round k's trials follow from the records of rounds 1..k-1 (`search_scored`): each record is a
# checkpoint, so `snakemake -n` lists round 1 and the DAG grows as rounds finish. A record's file name
# carries a digest of exactly the trials it scores, and its params are those trials only, so one
# more round or a larger budget never reruns a finished round (nor the trials that follow from it).
import json
import re

from cifarflow.config import final_search_variant, search_variant
from cifarflow.training import search as S

SEARCH_DIR = "results/search/{sset}/{search}"
SEARCH_SUMMARY = ["results/search/summary.md"] if SEARCHES else []
# The settings every trial shares (threads, memory, runtime, group); searched keys aside.
SEARCH_BASE = {
    s: search_variant(config, s, b, S.trials_for_round(s, b, 1, {})[0].settings, f"{s}-{b['name']}")
    for s, b in SEARCHES.items()
}


def _search_constraints():
    return {
        "sset": _alternatives(SEARCHES),
        "search": _alternatives({b["name"] for b in SEARCHES.values()}),
        "trial": r"[A-Za-z0-9][A-Za-z0-9_.+-]*",
        "k": r"[1-9][0-9]*",
        "digest": r"[0-9a-f]{10}",
        "seed": r"[0-9]+",
    }


def search_of(wildcards):
    search = SEARCHES[wildcards.sset]
    if search["name"] != wildcards.search:
        raise ValueError(f"set {wildcards.sset} has the search {search['name']}, not {wildcards.search}")
    return search


def search_scored(sset, upto):
    """Validation scores of rounds 1..upto and their record files; a missing record leaves the
    caller pending until its checkpoint has run (Snakemake then evaluates the DAG again)."""
    search = SEARCHES[sset]
    scores, files = {}, []
    for r in range(1, upto + 1):
        trials = S.trials_for_round(sset, search, r, scores)
        f = checkpoints.search_round.get(
            sset=sset, search=search["name"], k=str(r), digest=S.round_digest(trials)
        ).output[0]
        files.append(f)
        with open(f) as fh:
            scores.update(S.scores_from_record(json.load(fh)))
    return scores, files


def _trial_round(sset, trial):
    if SEARCHES[sset]["method"] == "grid":
        return 1
    m = re.search(r"-r([0-9]+)-t[0-9]+$", trial)
    if not m:
        raise ValueError(f"{trial} is not a trial name of search {sset}")
    return int(m.group(1))


def search_trial(wildcards):
    """(the trial's resolved variant, the record files of the rounds before it)."""
    search = search_of(wildcards)
    k = _trial_round(wildcards.sset, wildcards.trial)
    scores, files = search_scored(wildcards.sset, k - 1)
    for t in S.trials_for_round(wildcards.sset, search, k, scores):
        if t.name == wildcards.trial:
            return search_variant(config, wildcards.sset, search, t.settings, t.name), files
    raise ValueError(f"{wildcards.trial} is not a trial of search {wildcards.sset}/{wildcards.search}")


def search_final(wildcards):
    """(the final run's resolved variant: the chosen setting with seed `seed`, every round's record)."""
    search = search_of(wildcards)
    seed = int(wildcards.seed)
    if seed not in search["final"]["seeds"]:
        raise ValueError(f"seed {seed} is not a final seed of search {wildcards.sset}/{wildcards.search}")
    scores, files = search_scored(wildcards.sset, S.n_rounds(search))
    chosen = S.choose(wildcards.sset, search, scores)
    return final_search_variant(config, wildcards.sset, search, chosen.settings, seed), files


def _run_inputs(v, rounds):
    plan = plan_id(plan_spec(v, config))
    if plan not in PLANS:
        raise ValueError(f"search run {v['name']}: its epoch plan {plan} was not listed by search_plans")
    return {"split": f"results/data/split_{v['split']}.h5", "plan": f"results/plans/{plan}.h5", "rounds": rounds}


def _variant_json(v):
    return canonical_json({k: x for k, x in v.items() if k not in ("plan_id", "group")})


def search_round_inputs(wildcards):
    search = search_of(wildcards)
    k = int(wildcards.k)
    scores, files = search_scored(wildcards.sset, k - 1)
    trials = S.trials_for_round(wildcards.sset, search, k, scores)
    if S.round_digest(trials) != wildcards.digest:
        raise ValueError(f"round {k} of {wildcards.sset}/{wildcards.search}: {wildcards.digest} is not its digest")
    base = f"results/search/{wildcards.sset}/{wildcards.search}/trials"
    return {"prev": files, "histories": [f"{base}/{t.name}/history.csv" for t in trials]}


def search_round_trials(wildcards, input):
    scores, _ = search_scored(wildcards.sset, int(wildcards.k) - 1)
    trials = S.trials_for_round(wildcards.sset, search_of(wildcards), int(wildcards.k), scores)
    return canonical_json([t.to_json() for t in trials])


def search_report_inputs(wildcards):
    search = search_of(wildcards)
    base = f"results/search/{wildcards.sset}/{wildcards.search}/final"
    rounds = search_scored(wildcards.sset, S.n_rounds(search))[1]
    return rounds + [f"{base}/seed{s}/metrics.json" for s in search["final"]["seeds"]]


def search_rounds(wildcards):
    """Every round's record of every search: `all` lists them (each from its checkpoint), as an
    existing report would not notice by itself that the config asks for one more round."""
    return [f for s, b in SEARCHES.items() for f in search_scored(s, S.n_rounds(b))[1]]


def search_outputs():
    """What `all` asks of the searches: each search's report and the searches' summary."""
    out = [f"results/search/{s}/{b['name']}/summary.md" for s, b in SEARCHES.items()]
    return out + SEARCH_SUMMARY


localrules:
    search_round,
    search_report,
    search_summary,


rule search_train:
    input:
        unpack(lambda wildcards: _run_inputs(*search_trial(wildcards))),
    output:
        **{k: f"{SEARCH_DIR}/trials/{{trial}}/{f}" for k, f in RUN_FILES.items()},
    log:
        "logs/search/{sset}/{search}/{trial}.log",
    benchmark:
        "benchmarks/search/{sset}/{search}/{trial}.tsv"
    wildcard_constraints:
        **_search_constraints(),
    group:
        lambda wildcards: (
            f"train-{SEARCH_BASE[wildcards.sset]['group']}" if SEARCH_BASE[wildcards.sset]["group"] else None
        )
    conda:
        "../envs/cifarflow.yaml"
    threads: lambda wildcards: SEARCH_BASE[wildcards.sset]["threads"]
    resources:
        mem_mb=lambda wildcards, attempt: SEARCH_BASE[wildcards.sset]["mem_mb"] * attempt,
        runtime=lambda wildcards: SEARCH_BASE[wildcards.sset]["runtime"],
    params:
        variant=lambda wildcards, input: _variant_json(search_trial(wildcards)[0]),
        outdir=lambda wildcards, output: os.path.dirname(output.weights),
    shell:
        'python "$CIFARFLOW_LAUNCHER" --threads {threads:q} train --split {input.split:q} --plan {input.plan:q}'
        " --variant {params.variant:q} --outdir {params.outdir:q} > {log:q} 2>&1"


checkpoint search_round:
    input:
        unpack(search_round_inputs),
    output:
        f"{SEARCH_DIR}/round{{k}}-{{digest}}.json",
    log:
        "logs/search/{sset}/{search}/round{k}-{digest}.log",
    wildcard_constraints:
        **_search_constraints(),
    conda:
        "../envs/cifarflow.yaml"
    params:
        method=lambda wildcards: search_of(wildcards)["method"],
        trials=search_round_trials,
    shell:
        'python "$CIFARFLOW_LAUNCHER" search-round --set {wildcards.sset:q} --search {wildcards.search:q}'
        " --method {params.method:q} --round {wildcards.k:q} --trials {params.trials:q}"
        " --histories {input.histories:q} --out {output:q} > {log:q} 2>&1"


rule search_final:
    input:
        unpack(lambda wildcards: _run_inputs(*search_final(wildcards))),
    output:
        **{k: f"{SEARCH_DIR}/final/seed{{seed}}/{f}" for k, f in RUN_FILES.items()},
    log:
        "logs/search/{sset}/{search}/final-seed{seed}.log",
    benchmark:
        "benchmarks/search/{sset}/{search}/final-seed{seed}.tsv"
    wildcard_constraints:
        **_search_constraints(),
    conda:
        "../envs/cifarflow.yaml"
    threads: lambda wildcards: SEARCH_BASE[wildcards.sset]["threads"]
    resources:
        mem_mb=lambda wildcards, attempt: SEARCH_BASE[wildcards.sset]["mem_mb"] * attempt,
        runtime=lambda wildcards: SEARCH_BASE[wildcards.sset]["runtime"],
    params:
        variant=lambda wildcards, input: _variant_json(search_final(wildcards)[0]),
        outdir=lambda wildcards, output: os.path.dirname(output.weights),
    shell:
        'python "$CIFARFLOW_LAUNCHER" --threads {threads:q} train --split {input.split:q} --plan {input.plan:q}'
        " --variant {params.variant:q} --outdir {params.outdir:q} > {log:q} 2>&1"


rule search_report:
    input:
        search_report_inputs,
    output:
        settings=report(
            f"{SEARCH_DIR}/settings.png",
            caption="../report/search.rst",
            category="Searches",
            subcategory="{sset}",
            labels={"search": "{sset}/{search}", "figure": "validation accuracy against each setting"},
        ),
        parallel=report(
            f"{SEARCH_DIR}/parallel.png",
            caption="../report/search.rst",
            category="Searches",
            subcategory="{sset}",
            labels={"search": "{sset}/{search}", "figure": "parallel coordinates"},
        ),
        trials=report(
            f"{SEARCH_DIR}/trials.csv",
            caption="../report/search.rst",
            category="Searches",
            subcategory="{sset}",
            labels={"search": "{sset}/{search}", "figure": "trials table"},
        ),
        final=report(
            f"{SEARCH_DIR}/final.csv",
            caption="../report/search.rst",
            category="Searches",
            subcategory="{sset}",
            labels={"search": "{sset}/{search}", "figure": "final models' test accuracy"},
        ),
        summary=f"{SEARCH_DIR}/summary.md",
        other=multiext(f"{SEARCH_DIR}/", "trials.md", "final.md", "chosen.json", "settings.pdf", "parallel.pdf"),
    log:
        "logs/search/{sset}/{search}/report.log",
    wildcard_constraints:
        **_search_constraints(),
    conda:
        "../envs/cifarflow.yaml"
    params:
        search=lambda wildcards: canonical_json(search_of(wildcards)),
        # from `input` as given: while a round is pending, Snakemake holds its checkpoint's file there
        rounds=lambda wildcards, input: [f for f in input if re.search(r"/round[0-9]+-[0-9a-f]+\.json$", f)],
        final=lambda wildcards, input: [f for f in input if f.endswith("/metrics.json")],
        figures=FIGURES,
        outdir=lambda wildcards, output: os.path.dirname(output.summary),
    shell:
        'python "$CIFARFLOW_LAUNCHER" search-report --set {wildcards.sset:q} --search {params.search:q}'
        " --rounds {params.rounds:q} --final {params.final:q} --figures {params.figures:q} --outdir {params.outdir:q}"
        " > {log:q} 2>&1"


rule search_summary:
    input:
        [f"results/search/{s}/{b['name']}/summary.md" for s, b in SEARCHES.items()],
    output:
        "results/search/summary.md",
    log:
        "logs/search/summary.log",
    conda:
        "../envs/cifarflow.yaml"
    shell:
        'python "$CIFARFLOW_LAUNCHER" search-summary --sections {input:q} --out {output:q} > {log:q} 2>&1'
