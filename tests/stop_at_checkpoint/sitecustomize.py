"""Test hook, active only with this folder on PYTHONPATH and CIFARFLOW_TEST_STOP_AT_CHECKPOINT set.

``CIFARFLOW_TEST_STOP_AT_CHECKPOINT=<variant>:<n>``: the training job of `variant` stops itself
(SIGSTOP) when it is about to put its checkpoint in place for the (n+1)-th time, i.e. with the
checkpoint of n epochs on disk and the run certainly unfinished. A test then interrupts the job at
this exact point, whatever the machine's speed (`workflow_utils.stopped_training_job`). The hook
watches the ``os.rename`` audit event that `os.replace` raises; it changes nothing else.
"""

import os
import sys

_SPEC = os.environ.get("CIFARFLOW_TEST_STOP_AT_CHECKPOINT")

if _SPEC:
    _VARIANT, _, _N = _SPEC.rpartition(":")
    _seen = [0]

    def _stop_before_checkpoint(event, args):
        if event != "os.rename" or len(args) < 2:
            return
        dst = os.fspath(args[1]) if isinstance(args[1], (str, bytes, os.PathLike)) else ""
        dst = dst.decode() if isinstance(dst, bytes) else dst
        parts = dst.replace(os.sep, "/").split("/")
        if parts[-1:] == ["checkpoint.h5"] and "runs" in parts and _VARIANT in parts[parts.index("runs") :]:
            _seen[0] += 1
            if _seen[0] == int(_N) + 1:
                import signal

                os.kill(os.getpid(), signal.SIGSTOP)

    sys.addaudithook(_stop_before_checkpoint)
