localrules:
    decide,
    set_tables,
    all_tables,
    benchmark_table,
    summary_md,
    answers,


# One figure job per set: each variant's curves, confusion matrix and weights as images, and each
# comparison's figure and per-seed strip, drawn in one process (`--and`): the interpreter's start
# and the plotting imports are paid once a set, not once a figure. A set's own rule (no wildcards,
# its files named at parse time); a changed variant, label or `figures:` redraws its set only.
# Priority -1: with the cores busy, the training, tables and answers go first and the figures follow.
for _set in SETS:

    rule:
        name:
            f"figures_{_set}"
        input:
            set_figure_inputs(_set),
        output:
            [
                report(
                    f"results/figures/{_set}/{_n}/{_fig}.png",
                    caption=f"../report/{_fig}.rst",
                    category=_set,
                    subcategory=_n,
                    labels={"variant": _n, "figure": _title},
                )
                for _n in set_variants(_set)
                for _fig, _title in (
                    ("curves", "training curves"),
                    ("confusion", "confusion matrix"),
                    ("templates", "weights as images"),
                )
            ]
            + [
                report(
                    f"results/figures/{_set}/comparisons/{_c}{_suffix}.png",
                    caption=f"../report/{_caption}.rst",
                    category=_set,
                    subcategory="comparisons",
                    labels={"comparison": _c, **_extra},
                )
                for _c in set_comparisons(_set)
                for _suffix, _caption, _extra in (
                    ("", "comparison", {}),
                    ("_seeds", "seeds", {"figure": "per-seed test accuracy"}),
                )
            ]
            + (
                [
                    f"results/figures/{_set}/{_n}/{_fig}.pdf"
                    for _n in set_variants(_set)
                    for _fig in ("curves", "confusion", "templates")
                ]
                + [
                    f"results/figures/{_set}/comparisons/{_c}{_suffix}.pdf"
                    for _c in set_comparisons(_set)
                    for _suffix in ("", "_seeds")
                ]
                if PDF
                else []
            ),
        log:
            f"logs/report/figures_{_set}.log",
        priority: -1
        localrule: True
        conda:
            "../envs/cifarflow.yaml"
        params:
            settings=set_figure_settings(_set),
            commands=lambda wildcards, input, output, _set=_set: set_figure_commands(_set, input, output),
        shell:
            'python "$CIFARFLOW_LAUNCHER" {params.commands} > {log:q} 2>&1'


rule set_tables:
    input:
        set_metrics,
    output:
        summary="results/tables/{set}/summary.csv",
        per_class="results/tables/{set}/per_class.csv",
        per_seed="results/tables/{set}/per_seed.csv",
        # the report shows each table as a sortable HTML page (a CSV would only download)
        summary_html=report(
            "results/tables/{set}/summary.html",
            caption="../report/summary_table.rst",
            category="{set}",
            subcategory="tables",
            labels={"table": "summary"},
        ),
        per_class_html=report(
            "results/tables/{set}/per_class.html",
            caption="../report/per_class_table.rst",
            category="{set}",
            subcategory="tables",
            labels={"table": "per-class accuracy"},
        ),
        per_seed_html=report(
            "results/tables/{set}/per_seed.html",
            caption="../report/per_seed_table.rst",
            category="{set}",
            subcategory="tables",
            labels={"table": "every run (per seed)"},
        ),
        other=multiext("results/tables/{set}/", "summary.md", "summary.tex", "per_class.md", "per_seed.md"),
    log:
        "logs/report/tables_{set}.log",
    conda:
        "../envs/cifarflow.yaml"
    params:
        outdir=lambda wildcards, output: os.path.dirname(output.summary),
        statistics=canonical_json(STATISTICS),
        labels=lambda wildcards: labels_of(set_variants(wildcards.set)),
    shell:
        'python "$CIFARFLOW_LAUNCHER" tables --metrics {input:q} --outdir {params.outdir:q}'
        " --statistics {params.statistics:q} --labels {params.labels:q}"
        " --and table-html --csv {output.summary:q} {output.per_class:q} {output.per_seed:q}"
        " --html {output.summary_html:q} {output.per_class_html:q} {output.per_seed_html:q} > {log:q} 2>&1"


rule all_tables:
    input:
        lambda wildcards: all_metrics(VARIANTS),
    output:
        summary="results/tables/summary.csv",
        summary_html=report(
            "results/tables/summary.html",
            caption="../report/summary_table.rst",
            category="Summary",
            labels={"table": "all variants"},
        ),
        other=multiext(
            "results/tables/",
            "summary.md",
            "summary.tex",
            "per_class.csv",
            "per_class.md",
            "per_seed.csv",
            "per_seed.md",
        ),
    log:
        "logs/report/tables_all.log",
    conda:
        "../envs/cifarflow.yaml"
    params:
        outdir=lambda wildcards, output: os.path.dirname(output.summary),
        statistics=canonical_json(STATISTICS),
        # each variant's own label (unique within its set; the `set` column tells sets apart)
        labels=report_json(LABELS),
    shell:
        'python "$CIFARFLOW_LAUNCHER" tables --metrics {input:q} --outdir {params.outdir:q}'
        " --statistics {params.statistics:q} --labels {params.labels:q}"
        " --and table-html --csv {output.summary:q} --html {output.summary_html:q} > {log:q} 2>&1"


rule benchmark_table:
    input:
        lambda wildcards: [f"benchmarks/train/{n}/seed{s}.tsv" for n in VARIANTS for s in variant_seeds(n)],
    output:
        csv="results/tables/benchmarks.csv",
        html=report(
            "results/tables/benchmarks.html",
            caption="../report/benchmarks.rst",
            category="Summary",
            labels={"table": "job runtime and memory"},
        ),
        md="results/tables/benchmarks.md",
    log:
        "logs/report/benchmarks.log",
    conda:
        "../envs/cifarflow.yaml"
    params:
        out=lambda wildcards, output: output.csv.removesuffix(".csv"),
    shell:
        'python "$CIFARFLOW_LAUNCHER" benchmarks --files {input:q} --out {params.out:q}'
        " --and table-html --csv {output.csv:q} --html {output.html:q} > {log:q} 2>&1"


# Paired tests of a set's families of pairs (its comparisons', its `pairs`, its questions' own
# tables): one job per set, every table in one process (`--and`), its HTML pages last.
for _set in SETS:
    if not set_tables_paired(_set):
        continue

    rule:
        name:
            f"paired_{_set}"
        input:
            set_paired_inputs(_set),
        output:
            [f"results/tables/{_set}/paired_{_t}.{_ext}" for _t in set_tables_paired(_set) for _ext in ("csv", "md")]
            + [
                report(
                    f"results/tables/{_set}/paired_{_t}.html",
                    caption="../report/paired_table.rst",
                    category=_set,
                    subcategory="paired tests",
                    labels={"table": _t, "kind": "paired tests"},
                )
                for _t in set_tables_paired(_set)
            ]
            + [
                report(
                    f"results/figures/{_set}/comparisons/{_t}_paired.png",
                    caption="../report/paired_figure.rst",
                    category=_set,
                    subcategory="paired tests",
                    labels={"table": _t, "kind": "differences (figure)"},
                )
                for _t in set_tables_paired(_set)
            ]
            + (
                [f"results/figures/{_set}/comparisons/{_t}_paired.pdf" for _t in set_tables_paired(_set)]
                if PDF
                else []
            ),
        log:
            f"logs/report/paired_{_set}.log",
        priority: ANSWER_PRIORITY if _set in ANSWER_SETS else 0
        conda:
            "../envs/cifarflow.yaml"
        params:
            settings=set_paired_settings(_set),
            commands=lambda wildcards, input, output, _set=_set: set_paired_commands(_set, input, output),
        shell:
            'python "$CIFARFLOW_LAUNCHER" {params.commands} > {log:q} 2>&1'


# One look of a question with `decide`: its verdicts on the seeds so far. A checkpoint: whether the
# next look (and its seeds' training jobs) exists follows from this record (common.smk question_stop).
checkpoint decide:
    input:
        unpack(decide_inputs),
    output:
        "results/decide/{question}/look{look}.json",
    log:
        "logs/report/decide_{question}_look{look}.log",
    wildcard_constraints:
        question=_alternatives(QUESTIONS),
        look=r"[1-9][0-9]*",
    priority: ANSWER_PRIORITY
    conda:
        "../envs/cifarflow.yaml"
    params:
        spec=lambda wildcards, input: table_spec(wildcards.question, int(wildcards.look)),
        settings=lambda wildcards: table_settings(wildcards.question),
        runs=lambda wildcards, input: list(dict.fromkeys(os.path.dirname(f) for f in input.runs)),
        statistics=canonical_json(STATISTICS),
    shell:
        'python "$CIFARFLOW_LAUNCHER" decide --spec {params.spec:q} --runs {params.runs:q}'
        " --statistics {params.statistics:q} --out {output:q} > {log:q} 2>&1"


rule answers:
    input:
        unpack(answers_inputs),
    output:
        md="results/answers.md",
        html=report(
            "results/answers.html",
            caption="../report/answers.rst",
            category="Summary",
            labels={"table": "answers to the write-ups' questions"},
        ),
    log:
        "logs/report/answers.log",
    priority: ANSWER_PRIORITY
    conda:
        "../envs/cifarflow.yaml"
    params:
        questions=report_json(QUESTIONS),
        statistics=canonical_json(STATISTICS),
        runs=lambda wildcards, input: list(dict.fromkeys(os.path.dirname(f) for f in input if f.endswith(".json"))),
        tables=lambda wildcards, input: [f for f in input if f.endswith(".csv")],
        quick="--quick" if config.get("quick") else "",
    shell:
        'python "$CIFARFLOW_LAUNCHER" answers --questions {params.questions:q} --tables {params.tables:q}'
        " --runs {params.runs:q} --statistics {params.statistics:q} --out {output.md:q} --html {output.html:q}"
        " {params.quick} > {log:q} 2>&1"


rule summary_md:
    input:
        summary=["results/tables/summary.md"] if VARIANTS else [],
        search=SEARCH_SUMMARY,
        figures=figure_outputs(),
        answers=["results/answers.md"] if QUESTIONS else [],
    output:
        "results/summary.md",
    log:
        "logs/report/summary_md.log",
    conda:
        "../envs/cifarflow.yaml"
    params:
        quick="--quick" if config.get("quick") else "",
        labels=report_json(LABELS),
    shell:
        'python "$CIFARFLOW_LAUNCHER" summary-md --summary {input.summary:q} --search {input.search:q}'
        " --figures-list {input.figures:q} --answers {input.answers:q} --labels {params.labels:q} --out {output:q}"
        " {params.quick} > {log:q} 2>&1"
