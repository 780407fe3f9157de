# cifarflow: CIFAR-10 linear classifiers and small networks in NumPy, from archive to report.
# Run: snakemake --cores 2 --config local_archive=../shared/data/cifar-10-jpeg.tar.gz
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/augment.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        all_outputs(),
    default_target: True
