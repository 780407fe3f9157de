# Reproducibility evidence (cifarflow/manifest.py, cifarflow/verify.py): the manifest of every result
# file's sha256 with the environment bit-identity depends on, and `verify`, which trains a sample of
# the runs again into results/verify/runs/ (scratch, removed once compared) and checks that they come
# out bit-identical. `all` asks for both (the verify record while `verify.runs` > 0).
from cifarflow.verify import verify_sample

VERIFY_RUNS = verify_sample(
    [(n, s) for n in VARIANTS for s in VARIANTS[n]["seeds"]],
    config["verify"].get("runs", 2),
    config["verify"].get("seed", 0),
)
VERIFY_DIR = "results/verify/runs/{variant}/seed{seed}"
# the tables the manifest lists: every CSV of the tables' rules but the runtimes (benchmarks.csv)
MANIFEST_TABLES = (
    [t for t in table_outputs() if t.endswith(".csv") and os.path.basename(t) != "benchmarks.csv"]
    + [f"results/tables/{s}/{t}.csv" for s in SETS for t in ("per_class", "per_seed")]
    + (["results/tables/per_class.csv", "results/tables/per_seed.csv"] if VARIANTS else [])
)
REPRODUCIBILITY = (["results/manifest.json"] if VARIANTS else []) + (
    ["results/verify/verify.json"] if VERIFY_RUNS else []
)


localrules:
    manifest,
    verify,


rule manifest:
    input:
        runs=lambda wildcards: each_or_pending(
            VARIANTS, lambda n: [f"{d}/{f}" for d in run_dirs(n) for f in RUN_FILES.values()]
        ),
        tables=MANIFEST_TABLES,
    output:
        json="results/manifest.json",
        sha256="results/manifest.sha256",
        html=report(
            "results/manifest.html",
            caption="../report/manifest.rst",
            category="Reproducibility",
            labels={"record": "manifest of the results"},
        ),
    log:
        "logs/report/manifest.log",
    conda:
        "../envs/cifarflow.yaml"
    shell:
        'python "$CIFARFLOW_LAUNCHER" manifest --files {input:q} --json {output.json:q} --sha256 {output.sha256:q}'
        " --html {output.html:q} > {log:q} 2>&1"


# A run of the sample trained again by the training rule's own command, into scratch, after the
# run itself (a run whose training failed is not trained a second time: its failure is the one
# the run reports)
use rule train as verify_train with:
    input:
        unpack(
            lambda wildcards: {
                **train_inputs(wildcards),
                "original": f"{run_dir(wildcards.variant, wildcards.seed)}/metrics.json",
            }
        ),
    output:
        **{k: temp(f"{VERIFY_DIR}/{f}") for k, f in RUN_FILES.items()},
    log:
        "logs/verify/train/{variant}/seed{seed}.log",
    benchmark:
        "benchmarks/verify/train/{variant}/seed{seed}.tsv"
    priority: -1


rule verify:
    input:
        runs=[f"{run_dir(n, s)}/{f}" for n, s in VERIFY_RUNS for f in RUN_FILES.values()],
        again=[f"{VERIFY_DIR.format(variant=n, seed=s)}/{f}" for n, s in VERIFY_RUNS for f in RUN_FILES.values()],
    output:
        json="results/verify/verify.json",
        md="results/verify/verify.md",
        html=report(
            "results/verify/verify.html",
            caption="../report/verify.rst",
            category="Reproducibility",
            labels={"record": "runs trained again"},
        ),
    log:
        "logs/verify/verify.log",
    conda:
        "../envs/cifarflow.yaml"
    params:
        # from `input` (a module's prefix applies there): each run's folder, in the sample's order
        runs=lambda wildcards, input: list(dict.fromkeys(os.path.dirname(f) for f in input.runs)),
        again=lambda wildcards, input: list(dict.fromkeys(os.path.dirname(f) for f in input.again)),
    shell:
        'python "$CIFARFLOW_LAUNCHER" verify --runs {params.runs:q} --again {params.again:q} --json {output.json:q}'
        " --md {output.md:q} --html {output.html:q} > {log:q} 2>&1"
