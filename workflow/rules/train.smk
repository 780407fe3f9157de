rule train:
    input:
        unpack(train_inputs),
    output:
        **{k: f"results/runs/{{variant}}/{f}" for k, f in RUN_FILES.items()},
    log:
        "logs/train/{variant}.log",
    benchmark:
        "benchmarks/train/{variant}.tsv"
    threads: lambda wildcards: VARIANTS[wildcards.variant]["threads"]
    resources:
        mem_mb=lambda wildcards: VARIANTS[wildcards.variant]["mem_mb"],
        runtime=lambda wildcards: VARIANTS[wildcards.variant]["runtime"],
    params:
        variant=lambda wildcards: canonical_json({k: v for k, v in VARIANTS[wildcards.variant].items() if k != "plan_id"}),
        outdir=lambda wildcards, output: os.path.dirname(output.weights),
    conda:
        "../envs/cifarflow.yaml"
    shell:
        "python \"$CIFARFLOW_LAUNCHER\" --threads {threads} train --split {input.split:q} --plan {input.plan:q}"
        " --variant {params.variant:q} --outdir {params.outdir:q} > {log:q} 2>&1"
