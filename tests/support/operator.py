"""Run the operator as a real subprocess (`userprofile-operator run ...`), as users and pods do.

Shared by the e2e and chaos tests, the benchmarks and the demo.

The log goes to a file, so a failing test can show it (`log()`), and the process can be stopped
gently (`stop()`, SIGTERM) or killed mid-operation (`kill()`, SIGKILL) for crash-safety tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.support.processes import log_tail, stop_process

OPERATOR = str(Path(sys.executable).parent / "userprofile-operator")


# Quick timings for tests: the product's defaults are minutes, tests want seconds.
TEST_SETTINGS = {
    "SMUP_RETRY_MIN": "0.5",
    "SMUP_RETRY_MAX": "4",
    "SMUP_POLL_MIN": "0.2",
    "SMUP_POLL_MAX": "2",
    # The watch self-check: probe a watch quiet for 10 s, call it deaf 10 s later, exit 20 s after that.
    "SMUP_WATCH_PROBE_INTERVAL": "10",
    "SMUP_WATCH_PROBE_TIMEOUT": "10",
    "SMUP_DEAF_EXIT_AFTER": "20",
    # The e2e session's operator watches `shared-*`, and the tests make a namespace each: some 30 by the
    # end, each holding one watch per kind. Above what a team's operator watches; see the setting.
    "SMUP_MAX_KUBE_CONNECTIONS": "256",
}


def health(port: int, path: str = "/healthz") -> tuple[int, dict[str, Any]]:
    """The operator's /healthz or /readyz answer: HTTP status and its JSON body."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


class OperatorProcess:
    """One operator subprocess. All instances are listed in `instances`, to show their logs on failure.

    Its environment: `base_env` (default: this process's), then `settings` (default: the quick
    TEST_SETTINGS; the demo passes none, to run with the product's defaults), `aws_env`, KUBECONFIG and
    `env`. The log goes to `log_path`, by default a new temporary file.
    """

    instances: list[OperatorProcess] = []

    def __init__(
        self,
        kubeconfig: Path,
        aws_env: Mapping[str, str],
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        region: str = "us-east-1",
        namespaces: Sequence[str] = (),
        wrapper: Sequence[str] = (),
        *,
        settings: Mapping[str, str] = TEST_SETTINGS,
        base_env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.wrapper = list(wrapper)  # a command the operator runs under, e.g. unshare
        scope = [f"--namespace={ns}" for ns in namespaces] or ["--all-namespaces"]
        self.args = ["run", *scope, "--region", region, *args]
        if not any(a.startswith("--metrics-port") for a in args):
            self.args += ["--metrics-port", "0"]
        base = os.environ if base_env is None else base_env
        self.env = {**base, **settings, **aws_env, "KUBECONFIG": str(kubeconfig), **(env or {})}
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix="smup-operator-", suffix=".log")
            os.close(fd)
            log_path = Path(name)
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        OperatorProcess.instances.append(self)

    def start(self) -> OperatorProcess:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [*self.wrapper, OPERATOR, *self.args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,
            )
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def log(self, lines: int = 200) -> str:
        return log_tail(self.log_path, lines)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye — what a crash or an OOM kill looks like."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout: float = 20.0) -> None:
        stop_process(self.proc, timeout)

    def restart(self) -> OperatorProcess:
        self.stop()
        return self.start()

    def __enter__(self) -> OperatorProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
