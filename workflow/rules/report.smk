localrules:
    plot_variant,
    compare,
    set_tables,
    all_tables,
    benchmark_table,
    summary_md,


rule plot_variant:
    input:
        unpack(variant_figure_inputs),
    output:
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
        pdfs=multiext("results/figures/{set}/{variant}/", "curves.pdf", "confusion.pdf", "templates.pdf"),
    log:
        "logs/report/plot_{set}_{variant}.log",
    conda:
        "../envs/cifarflow.yaml"
    params:
        figures=FIGURES,
        curves=lambda wildcards, output: output.curves.removesuffix(".png"),
        confusion=lambda wildcards, output: output.confusion.removesuffix(".png"),
        templates=lambda wildcards, output: output.templates.removesuffix(".png"),
    shell:
        'python "$CIFARFLOW_LAUNCHER" plot-variant --metrics {input.metrics:q} --history {input.history:q} --weights {input.weights:q}'
        " --curves {params.curves:q} --confusion {params.confusion:q} --templates {params.templates:q}"
        " --figures {params.figures:q} > {log:q} 2>&1"


rule compare:
    input:
        comparison_inputs,
    output:
        png=report(
            "results/figures/{set}/comparisons/{comparison}.png",
            caption="../report/comparison.rst",
            category="{set}",
            subcategory="comparisons",
            labels={"comparison": "{comparison}"},
        ),
        pdf="results/figures/{set}/comparisons/{comparison}.pdf",
    log:
        "logs/report/compare_{set}_{comparison}.log",
    conda:
        "../envs/cifarflow.yaml"
    params:
        spec=lambda wildcards: canonical_json(COMPARISONS[wildcards.comparison]),
        runs=lambda wildcards, input: list(dict.fromkeys(os.path.dirname(f) for f in input)),
        figures=FIGURES,
        out=lambda wildcards, output: output.png.removesuffix(".png"),
    shell:
        'python "$CIFARFLOW_LAUNCHER" compare --spec {params.spec:q} --runs {params.runs:q} --figures {params.figures:q}'
        " --out {params.out:q} > {log:q} 2>&1"


rule set_tables:
    input:
        set_metrics,
    output:
        summary=report(
            "results/tables/{set}/summary.csv",
            caption="../report/summary_table.rst",
            category="{set}",
            subcategory="tables",
            labels={"table": "summary"},
        ),
        per_class=report(
            "results/tables/{set}/per_class.csv",
            caption="../report/per_class_table.rst",
            category="{set}",
            subcategory="tables",
            labels={"table": "per-class accuracy"},
        ),
        other=multiext("results/tables/{set}/", "summary.md", "summary.tex", "per_class.md"),
    log:
        "logs/report/tables_{set}.log",
    conda:
        "../envs/cifarflow.yaml"
    params:
        outdir=lambda wildcards, output: os.path.dirname(output.summary),
    shell:
        'python "$CIFARFLOW_LAUNCHER" tables --metrics {input:q} --outdir {params.outdir:q} > {log:q} 2>&1'


rule all_tables:
    input:
        [f"results/runs/{n}/metrics.json" for n in VARIANTS],
    output:
        summary=report(
            "results/tables/summary.csv",
            caption="../report/summary_table.rst",
            category="Summary",
            labels={"table": "all variants"},
        ),
        other=multiext("results/tables/", "summary.md", "summary.tex", "per_class.csv", "per_class.md"),
    log:
        "logs/report/tables_all.log",
    conda:
        "../envs/cifarflow.yaml"
    params:
        outdir=lambda wildcards, output: os.path.dirname(output.summary),
    shell:
        'python "$CIFARFLOW_LAUNCHER" tables --metrics {input:q} --outdir {params.outdir:q} > {log:q} 2>&1'


rule benchmark_table:
    input:
        [f"benchmarks/train/{n}.tsv" for n in VARIANTS],
    output:
        csv=report(
            "results/tables/benchmarks.csv",
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


rule summary_md:
    input:
        summary=["results/tables/summary.md"] if VARIANTS else [],
        search=SEARCH_SUMMARY,
        figures=figure_outputs(),
    output:
        "results/summary.md",
    log:
        "logs/report/summary_md.log",
    conda:
        "../envs/cifarflow.yaml"
    shell:
        'python "$CIFARFLOW_LAUNCHER" summary-md --summary {input.summary:q} --search {input.search:q}'
        " --figures-list {input.figures:q} --out {output:q} > {log:q} 2>&1"
