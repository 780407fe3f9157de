"""Ending a Snakemake run as soon as its last job has finished (workflow/Snakefile's onsuccess/onerror).

Snakemake's job scheduler, after each pass that leaves ready jobs waiting, starts a
`threading.Timer` that triggers one more pass after the `--max-jobs-per-timespan` timespan (the
job-rate limiter's re-check). Those timers are not daemon threads, so the interpreter waits for the
last of them before it exits: up to one timespan after the last job. The workflow profile
(profiles/default) sets a timespan of several seconds, because with the default of one second
every waiting pass begets another pass each second, and on a run of many short jobs those chains
multiply (the quick config made about 3,800 passes, 28 s of Snakemake's CPU on two cores). When the
run is over, no further pass can start a job, so its handlers cancel the timers that are still
pending instead of waiting for them.
"""

from __future__ import annotations

import threading

SCHEDULER_MODULE = "snakemake.scheduling.job_scheduler"


def pending_rescheduling_timers() -> list[threading.Timer]:
    """The scheduler's re-check timers that have not fired yet: `threading.Timer` threads whose
    function was defined in Snakemake's job scheduler module (no other timer of the process)."""
    return [
        t
        for t in threading.enumerate()
        if isinstance(t, threading.Timer)
        and getattr(t.function, "__module__", None) == SCHEDULER_MODULE
        and not t.finished.is_set()
    ]


def cancel_rescheduling_timers() -> int:
    """Cancel the scheduler's pending re-check timers (the run has ended); returns how many."""
    timers = pending_rescheduling_timers()
    for t in timers:
        t.cancel()
    return len(timers)
