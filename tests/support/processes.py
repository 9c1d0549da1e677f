"""Small helpers every test-support process shares: a free port, a stop that leaves nothing behind, a log tail.

The control plane (`localcluster.py`), the emulator (`emulator.py`) and the operator (`operator.py`) each
start their children with ``start_new_session=True``, so that a terminal's Ctrl-C reaches only the test,
bench or demo process, and :func:`stop_process` can stop the child with everything it started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stop_process(proc: subprocess.Popen[Any] | None, timeout: float = 15.0) -> None:
    """SIGTERM to the child's process group (started with start_new_session), SIGKILL after `timeout`.

    Idempotent; returns once the process is reaped.
    """
    if proc is None:
        return
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def log_tail(log: Path, lines: int = 40) -> str:
    """The last `lines` lines of a log file; empty when it cannot be read."""
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
