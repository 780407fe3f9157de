# Hyperparameter searches (issue 17): a set's `search:` block becomes trials (training jobs), rounds
# (checkpoints that read the trials' validation accuracy only), final runs of the chosen setting
# with fresh seeds (the only runs of a search whose test numbers are read) and a report.
#
#   results/search/<set>/<search>/trials/<trial>/    a trial's run files (as results/runs/<variant>/)
#   results/search/<set>/<search>/round<k>-<digest>.json   round k's trials, ranked by validation accuracy
#                                                          at the epoch each run keeps (with `reevaluate`,
#                                                          the last round: the candidates' extra seeds)
#   results/search/<set>/<search>/final/seed<s>/     the chosen setting retrained with seed s
#   results/search/<set>/<search>/{trials,final}.{csv,md}, chosen.json, settings.png, parallel.png, summary.md
#
# Round k's trials follow from the records of rounds 1..k-1 (`search_scored`): each record is a
# checkpoint, so `snakemake -n` lists round 1 and the DAG grows as rounds finish. A record's file name
# carries a digest of exactly the trials it scores, and its params are those trials only, so one
# more round or a larger budget never reruns a finished round (nor the trials that follow from it).


include: "search_common.smk"


localrules:
    search_round,
    search_report,
    search_summary,


# A trial, and a final run of the chosen setting: the training rule (rules/train.smk) on the
# search's variant, with the search's files, threads and memory (`params.outdir` and the command
# are the training rule's).
use rule train as search_train with:
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
    priority: 0
    group:
        lambda wildcards: (
            f"train-{SEARCH_BASE[wildcards.sset]['group']}" if SEARCH_BASE[wildcards.sset]["group"] else None
        )
    threads: lambda wildcards: SEARCH_BASE[wildcards.sset]["threads"]
    resources:
        mem_mb=lambda wildcards, attempt: SEARCH_BASE[wildcards.sset]["mem_mb"] * attempt,
        runtime=lambda wildcards: SEARCH_BASE[wildcards.sset]["runtime"],
    params:
        variant=lambda wildcards, input: _variant_json(search_trial(wildcards)[0]),


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


use rule search_train as search_final with:
    input:
        unpack(lambda wildcards: _run_inputs(*search_final(wildcards))),
    output:
        **{k: f"{SEARCH_DIR}/final/seed{{seed}}/{f}" for k, f in RUN_FILES.items()},
    log:
        "logs/search/{sset}/{search}/final-seed{seed}.log",
    benchmark:
        "benchmarks/search/{sset}/{search}/final-seed{seed}.tsv"
    group:
        lambda wildcards: None  # a final run is a job of its own, never bundled with the trials
    params:
        variant=lambda wildcards, input: _variant_json(search_final(wildcards)[0]),


rule search_report:
    input:
        search_report_inputs,
    output:
        **pdf_outputs(pdfs=multiext(f"{SEARCH_DIR}/", "settings.pdf", "parallel.pdf")),
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
        trials=f"{SEARCH_DIR}/trials.csv",
        final=f"{SEARCH_DIR}/final.csv",
        importance=f"{SEARCH_DIR}/importance.csv",
        # the report shows the tables as sortable HTML pages (a CSV would only download)
        trials_html=report(
            f"{SEARCH_DIR}/trials.html",
            caption="../report/search.rst",
            category="Searches",
            subcategory="{sset}",
            labels={"search": "{sset}/{search}", "figure": "trials table"},
        ),
        final_html=report(
            f"{SEARCH_DIR}/final.html",
            caption="../report/search.rst",
            category="Searches",
            subcategory="{sset}",
            labels={"search": "{sset}/{search}", "figure": "final models' test accuracy"},
        ),
        importance_html=report(
            f"{SEARCH_DIR}/importance.html",
            caption="../report/search.rst",
            category="Searches",
            subcategory="{sset}",
            labels={"search": "{sset}/{search}", "figure": "parameter importance"},
        ),
        summary=f"{SEARCH_DIR}/summary.md",
        other=multiext(f"{SEARCH_DIR}/", "trials.md", "final.md", "importance.md", "chosen.json"),
    log:
        "logs/search/{sset}/{search}/report.log",
    wildcard_constraints:
        **_search_constraints(),
    conda:
        "../envs/cifarflow.yaml"
    params:
        search=lambda wildcards: report_json(search_of(wildcards)),
        rounds=search_round_files,
        final=search_final_files,
        figures=FIGURES,
        outdir=lambda wildcards, output: os.path.dirname(output.summary),
    shell:
        'python "$CIFARFLOW_LAUNCHER" search-report --set {wildcards.sset:q} --search {params.search:q}'
        " --rounds {params.rounds:q} --final {params.final:q} --figures {params.figures:q} --outdir {params.outdir:q}"
        " --and table-html --csv {output.trials:q} {output.final:q} {output.importance:q}"
        " --html {output.trials_html:q} {output.final_html:q} {output.importance_html:q} > {log:q} 2>&1"


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
