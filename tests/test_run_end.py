"""run_end: a run ends with its last job (the workflow profile's rescheduling timespan, and the
handlers that cancel Snakemake's pending re-check timers), issue 28."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
import yaml
from snakemake.scheduling.job_scheduler import JobScheduler
from snakemake.settings.types import MaxJobsPerTimespan

from cifarflow.run_end import cancel_rescheduling_timers, pending_rescheduling_timers

from workflow_utils import REPO, small_config, snakemake, write_config

PROFILE = REPO / "profiles" / "default" / "config.yaml"


def test_the_schedulers_pending_timers_are_cancelled_and_no_other():
    # a re-check timer started by Snakemake's own scheduler code, as after a pass with jobs waiting
    scheduler = SimpleNamespace(_open_jobs=threading.Semaphore(0))
    before = set(pending_rescheduling_timers())
    JobScheduler._schedule_reevalutation(scheduler, 60)
    ours = list(set(pending_rescheduling_timers()) - before)
    assert len(ours) == 1
    other = threading.Timer(60, lambda: None)  # a timer of someone else in the process
    other.start()
    try:
        assert other not in pending_rescheduling_timers()
        assert cancel_rescheduling_timers() >= 1
        ours[0].join(timeout=30)
        assert not ours[0].is_alive()  # ended on cancel, not after its 60 s (30 s of slack for a loaded machine)
        assert not scheduler._open_jobs.acquire(blocking=False)  # and it never triggered a pass
        assert other.is_alive() and not other.finished.is_set()
        assert pending_rescheduling_timers() == []
    finally:
        other.cancel()


def test_the_workflow_profile_sets_a_valid_longer_timespan():
    profile = yaml.safe_load(PROFILE.read_text())
    limit = MaxJobsPerTimespan.parse_choice(profile["max-jobs-per-timespan"])
    assert limit.timespan > 1  # thinner than Snakemake's 1 s re-checks
    assert limit.max_jobs / limit.timespan >= 100  # the default's submission rate (100 per second) kept


@pytest.mark.workflow
def test_snakemake_reads_the_workflow_profile(archive, tmp_path):
    write_config(tmp_path, small_config(archive))
    out = snakemake(tmp_path, "-n", "--cores", "2")
    assert "Using workflow specific profile" in out.stdout + out.stderr
    assert str(PROFILE.parent.relative_to(REPO)) in out.stdout + out.stderr
