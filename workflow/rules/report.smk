localrules:
    plot_variant,
    compare,
    decide,
    set_tables,
    all_tables,
    benchmark_table,
    summary_md,
    answers,


rule plot_variant:
    input:
        unpack(variant_figure_inputs),
    output:
        **pdf_outputs(pdfs=multiext("results/figures/{set}/{variant}/", "curves.pdf", "confusion.pdf", "templates.pdf")),
        curves=report(
            "results/figures/{set}/{variant}/curves.png",
            caption="../report/curves.rst",
            category="{set}",
            subcategory="{variant}",
            labels={"variant": "{variant}", "figure": "training curves"},
        ),
        confusion=report(
            "results/figures/{set}/{variant}/confusion.png",
            caption="../report/confusion.rst",
            category="{set}",
            subcategory="{variant}",
            labels={"variant": "{variant}", "figure": "confusion matrix"},
        ),
        templates=report(
            "results/figures/{set}/{variant}/templates.png",
            caption="../report/templates.rst",
            category="{set}",
            subcategory="{variant}",
            labels={"variant": "{variant}", "figure": "weights as images"},
        ),
    log:
        "logs/report/plot_{set}_{variant}.log",
    conda:
        "../envs/cifarflow.yaml"
    params:
        # from `input` as given: while a question's look is pending, Snakemake holds its record there
        metrics=lambda wildcards, input: files_named(input, "metrics.json"),
        history=lambda wildcards, input: files_named(input, "history.csv"),
        weights=lambda wildcards, input: files_named(input, "weights.h5"),
        figures=FIGURES,
        label=lambda wildcards: report_json(LABELS[wildcards.variant]),
        curves=lambda wildcards, output: output.curves.removesuffix(".png"),
        confusion=lambda wildcards, output: output.confusion.removesuffix(".png"),
        templates=lambda wildcards, output: output.templates.removesuffix(".png"),
    shell:
        'python "$CIFARFLOW_LAUNCHER" plot-variant --metrics {params.metrics:q} --history {params.history:q} --weights {params.weights:q}'
        " --curves {params.curves:q} --confusion {params.confusion:q} --templates {params.templates:q}"
        " --figures {params.figures:q} --label {params.label:q} > {log:q} 2>&1"


rule compare:
    input:
        comparison_inputs,
    output:
        **pdf_outputs(
            pdf="results/figures/{set}/comparisons/{comparison}.pdf",
            seeds_pdf="results/figures/{set}/comparisons/{comparison}_seeds.pdf",
        ),
        png=report(
            "results/figures/{set}/comparisons/{comparison}.png",
            caption="../report/comparison.rst",
            category="{set}",
            subcategory="comparisons",
            labels={"comparison": "{comparison}"},
        ),
        seeds=report(
            "results/figures/{set}/comparisons/{comparison}_seeds.png",
            caption="../report/seeds.rst",
            category="{set}",
            subcategory="comparisons",
            labels={"comparison": "{comparison}", "figure": "per-seed test accuracy"},
        ),
    log:
        "logs/report/compare_{set}_{comparison}.log",
    conda:
        "../envs/cifarflow.yaml"
    params:
        spec=lambda wildcards: report_json(
            dict(
                COMPARISONS[wildcards.comparison],
                confidence=STATISTICS["confidence"],
                labels=unique_labels(COMPARISONS[wildcards.comparison]["variants"], LABELS),
            )
        ),
        runs=lambda wildcards, input: list(dict.fromkeys(os.path.dirname(f) for f in input)),
        figures=FIGURES,
        out=lambda wildcards, output: output.png.removesuffix(".png"),
        seeds=lambda wildcards, output: output.seeds.removesuffix(".png"),
    shell:
        'python "$CIFARFLOW_LAUNCHER" compare --spec {params.spec:q} --runs {params.runs:q} --figures {params.figures:q}'
        " --out {params.out:q} --seeds-out {params.seeds:q} > {log:q} 2>&1"


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
        labels=lambda wildcards: labels_of(n for n, v in VARIANTS.items() if v["set"] == wildcards.set),
    shell:
        'python "$CIFARFLOW_LAUNCHER" tables --metrics {input:q} --outdir {params.outdir:q}'
        " --statistics {params.statistics:q} --labels {params.labels:q} > {log:q} 2>&1"
        ' && python "$CIFARFLOW_LAUNCHER" table-html --csv {output.summary:q} {output.per_class:q} {output.per_seed:q}'
        " --html {output.summary_html:q} {output.per_class_html:q} {output.per_seed_html:q} >> {log:q} 2>&1"


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
        " --statistics {params.statistics:q} --labels {params.labels:q} > {log:q} 2>&1"
        ' && python "$CIFARFLOW_LAUNCHER" table-html --csv {output.summary:q} --html {output.summary_html:q} >> {log:q} 2>&1'


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
        'python "$CIFARFLOW_LAUNCHER" benchmarks --files {input:q} --out {params.out:q} > {log:q} 2>&1'
        ' && python "$CIFARFLOW_LAUNCHER" table-html --csv {output.csv:q} --html {output.html:q} >> {log:q} 2>&1'


# Paired tests of one family of pairs (a comparison, a set's `pairs`, or a question's own pairs):
# one job per table, so the bootstrap (about 1.7 s a pair) runs in parallel across tables.
rule paired:
    input:
        paired_inputs,
    output:
        **pdf_outputs(pdf="results/figures/{set}/comparisons/{table}_paired.pdf"),
        csv="results/tables/{set}/paired_{table}.csv",
        html=report(
            "results/tables/{set}/paired_{table}.html",
            caption="../report/paired_table.rst",
            category="{set}",
            subcategory="paired tests",
            labels={"table": "{table}", "kind": "paired tests"},
        ),
        md="results/tables/{set}/paired_{table}.md",
        png=report(
            "results/figures/{set}/comparisons/{table}_paired.png",
            caption="../report/paired_figure.rst",
            category="{set}",
            subcategory="paired tests",
            labels={"table": "{table}", "kind": "differences (figure)"},
        ),
    log:
        "logs/report/paired_{set}_{table}.log",
    conda:
        "../envs/cifarflow.yaml"
    params:
        spec=lambda wildcards, input: table_spec(wildcards.table),
        # what the spec holds that the config decides, as a param without `input` (Snakemake does not
        # compare params that take input, so a changed min_effect or decide would not rerun the table)
        settings=lambda wildcards: table_settings(wildcards.table),
        # a param of its own, not in `spec`: Snakemake sees changes only of params that take no input
        labels=lambda wildcards: labels_of(PAIRED[wildcards.table]["variants"]),
        runs=lambda wildcards, input: list(dict.fromkeys(os.path.dirname(f) for f in input)),
        statistics=canonical_json(STATISTICS),
        figures=FIGURES,
        table=lambda wildcards, output: output.csv.removesuffix(".csv"),
        figure=lambda wildcards, output: output.png.removesuffix(".png"),
    shell:
        'python "$CIFARFLOW_LAUNCHER" paired --spec {params.spec:q} --runs {params.runs:q} --statistics {params.statistics:q}'
        " --labels {params.labels:q} --figures {params.figures:q} --table {params.table:q} --figure {params.figure:q}"
        " > {log:q} 2>&1"
        ' && python "$CIFARFLOW_LAUNCHER" table-html --csv {output.csv:q} --html {output.html:q} >> {log:q} 2>&1'


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
