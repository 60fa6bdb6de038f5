"""Process plumbing shared by the node executables."""
from __future__ import annotations

import ctypes
import os
import signal

PARENT_ENV = 'LPR_PARENT_PID'   # set by the pip runner for the processes it starts
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Get SIGTERM when the runner that started this process dies (Linux).

    Asked for here, in the child, instead of through subprocess's
    ``preexec_fn``, which is unsafe once the parent runs threads. A parent
    that died before the request is noticed by comparing the parent pid."""
    parent = os.environ.get(PARENT_ENV, '')
    if not parent.isdigit():
        return
    try:
        ctypes.CDLL('libc.so.6', use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() != int(parent):
        os.kill(os.getpid(), signal.SIGTERM)
