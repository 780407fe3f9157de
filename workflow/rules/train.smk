# One job per (variant, replicate seed): results/runs/<variant>/seed<s>/.
# Variants with a `group` setting (short trainings) share the group train-<group>: on a cluster the
# profile's `group-components` bundles that many of them into one job. Ignored by local runs.
# The searches' trials and final runs reuse this rule (`use rule train as search_train` in
# rules/search.smk): the training command is written here only.
rule train:
    input:
        unpack(train_inputs),
    output:
        **{k: f"results/runs/{{variant}}/seed{{seed}}/{f}" for k, f in RUN_FILES.items()},
    log:
        "logs/train/{variant}/seed{seed}.log",
    benchmark:
        "benchmarks/train/{variant}/seed{seed}.tsv"
    priority: train_priority
    group:
        lambda wildcards: train_group(wildcards.variant)
    conda:
        "../envs/cifarflow.yaml"
    threads: lambda wildcards: VARIANTS[wildcards.variant]["threads"]
    resources:
        mem_mb=lambda wildcards, attempt: VARIANTS[wildcards.variant]["mem_mb"] * attempt,
        runtime=lambda wildcards: VARIANTS[wildcards.variant]["runtime"],
    params:
        variant=train_params,
        outdir=lambda wildcards, output: os.path.dirname(output.weights),
    shell:
        'python "$CIFARFLOW_LAUNCHER" --threads {threads:q} train --split {input.split:q} --plan {input.plan:q}'
        " --variant {params.variant:q} --outdir {params.outdir:q} > {log:q} 2>&1"
