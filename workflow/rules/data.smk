localrules:
    download,


rule download:
    output:
        DOWNLOAD_PATH,
    log:
        "logs/data/download.log",
    conda:
        "../envs/cifarflow.yaml"
    params:
        url=config["download"]["url"],
        md5=config["download"]["md5"],
        retries=config["download"]["retries"],
        backoff=config["download"]["backoff"],
        timeout=config["download"]["timeout"],
    shell:
        'python "$CIFARFLOW_LAUNCHER" download --url {params.url:q} --md5 {params.md5:q} --out {output:q}'
        " --retries {params.retries:q} --backoff {params.backoff:q} --timeout {params.timeout:q} > {log:q} 2>&1"


rule import_data:
    input:
        source_input(),
    output:
        "results/data/cifar10.h5",
    log:
        "logs/data/import.log",
    benchmark:
        "benchmarks/data/import.tsv"
    conda:
        "../envs/cifarflow.yaml"
    threads: 2
    resources:
        mem_mb=retry_mem(3000),
        runtime=20,
    params:
        classes=canonical_json(config["source_classes"]),  # "null": any classes
        source_sha256=source_digest(),
    shell:
        'python "$CIFARFLOW_LAUNCHER" --threads {threads} import --source {input:q} --classes {params.classes:q} --out {output:q} > {log:q} 2>&1'


rule split_data:
    input:
        "results/data/cifar10.h5",
    output:
        split="results/data/split_{split}.h5",
        digest="results/data/split_{split}.h5.sha256.json",
    log:
        "logs/data/split_{split}.log",
    benchmark:
        "benchmarks/data/split_{split}.tsv"
    conda:
        "../envs/cifarflow.yaml"
    resources:
        mem_mb=retry_mem(3000),
        runtime=10,
    params:
        spec=lambda wildcards: canonical_json(config["splits"][wildcards.split]),
    shell:
        'python "$CIFARFLOW_LAUNCHER" split --raw {input:q} --name {wildcards.split:q} --spec {params.spec:q} --out {output.split:q} > {log:q} 2>&1'
