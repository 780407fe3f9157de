"""Write what a `script:` job sees inside its SLURM job (tests/slurm/Snakefile)."""

import os

env = os.environ
with open(snakemake.output[0], "w") as out:  # noqa: F821 (injected by Snakemake)
    out.write("rule=single\n")
    out.write(f"threads={snakemake.threads}\n")  # noqa: F821
    out.write(f"slurm_job_id={env.get('SLURM_JOB_ID', 'none')}\n")
    out.write(f"slurm_cpus_per_task={env.get('SLURM_CPUS_PER_TASK', 'unset')}\n")
    out.write(f"omp_num_threads={env.get('OMP_NUM_THREADS', 'unset')}\n")
    out.write(f"nproc={len(os.sched_getaffinity(0))}\n")
