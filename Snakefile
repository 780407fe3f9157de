# cifarflow from the repository root: `snakemake --cores N` reads this file. The workflow itself
# is workflow/Snakefile (the layout of the Snakemake workflow catalog); its paths are relative to it.


include: "workflow/Snakefile"


# An included file's default target does not carry over: name the same files here.
rule default:
    default_target: True
    input:
        rules.all.input,
