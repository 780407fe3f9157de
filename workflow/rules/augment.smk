# Light rules run on the submit host under a cluster profile: a plan is a few index arrays per
# epoch (unless `materialize: true` writes every augmented image), a preview is one figure.
localrules:
    preview_augmentation,


if not config.get("materialize"):

    localrules:
        plan_epochs,


rule plan_epochs:
    input:
        lambda wildcards: f"results/data/split_{PLANS[wildcards.plan]['split']}.h5",
    output:
        "results/plans/{plan}.h5",
    log:
        "logs/augment/{plan}.log",
    benchmark:
        "benchmarks/augment/{plan}.tsv"
    conda:
        "../envs/cifarflow.yaml"
    resources:
        mem_mb=retry_mem(2000),
        runtime=10,
    params:
        spec=lambda wildcards: canonical_json(PLANS[wildcards.plan]),
    shell:
        'python "$CIFARFLOW_LAUNCHER" plan --split {input:q} --spec {params.spec:q} --out {output:q} > {log:q} 2>&1'


rule preview_augmentation:
    input:
        f"results/data/split_{SPLITS[0] if SPLITS else 'full'}.h5",
    output:
        report(
            "results/figures/augment/{augmentation}.png",
            caption="../report/augment.rst",
            category="Data",
            subcategory="Augmentation",
            labels={"augmentation": "{augmentation}"},
        ),
        **pdf_outputs(pdf="results/figures/augment/{augmentation}.pdf"),
    log:
        "logs/augment/preview_{augmentation}.log",
    conda:
        "../envs/cifarflow.yaml"
    params:
        augmentation=lambda wildcards: canonical_json(config["augmentations"][wildcards.augmentation]),
        figures=FIGURES,
        out=lambda wildcards, output: output[0].removesuffix(".png"),
    shell:
        'python "$CIFARFLOW_LAUNCHER" preview --split {input:q} --augmentation {params.augmentation:q} --figures {params.figures:q}'
        " --out {params.out:q} > {log:q} 2>&1"
