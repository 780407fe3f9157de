# Light rules run on the submit host under a cluster profile: a plan is a few index arrays per
# epoch (unless `materialize: true` writes every augmented image), a preview is one figure.
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
    # before any training: a plan takes a fraction of a second, and each training waits for one
    priority: ANSWER_PRIORITY + 1
    conda:
        "../envs/cifarflow.yaml"
    resources:
        mem_mb=retry_mem(2000),
        runtime=10,
    params:
        spec=lambda wildcards: canonical_json(PLANS[wildcards.plan]),
    shell:
        'python "$CIFARFLOW_LAUNCHER" plan --split {input:q} --spec {params.spec:q} --out {output:q} > {log:q} 2>&1'


# The augmentation previews (one figure per augmentation a variant uses) in one job, one process.
# Figures come after the training that answers the questions (priority -1: the answers first).
if PREVIEWS:

    rule preview_augmentation:
        input:
            f"results/data/split_{SPLITS[0] if SPLITS else 'full'}.h5",
        output:
            [
                report(
                    f"results/figures/augment/{_a}.png",
                    caption="../report/augment.rst",
                    category="Data",
                    subcategory="Augmentation",
                    labels={"augmentation": _a},
                )
                for _a in PREVIEWS
            ]
            + ([f"results/figures/augment/{_a}.pdf" for _a in PREVIEWS] if PDF else []),
        log:
            "logs/augment/preview.log",
        priority: -1
        localrule: True
        conda:
            "../envs/cifarflow.yaml"
        params:
            settings=canonical_json(
                {"augmentations": {a: config["augmentations"][a] for a in PREVIEWS}, "figures": config["figures"]}
            ),
            commands=lambda wildcards, input, output: launcher_commands(
                [preview_command(a, input[0], output) for a in PREVIEWS]
            ),
        shell:
            'python "$CIFARFLOW_LAUNCHER" {params.commands} > {log:q} 2>&1'
