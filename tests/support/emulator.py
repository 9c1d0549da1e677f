"""Run the Cloud Control emulator as a subprocess and drive its admin API.

Shared by the conformance tests, the operator's e2e tests, the benchmarks and the demo; keep it stable.
Standard library only (``urllib``) for the admin calls; ``boto3`` is imported lazily by the client
helpers. The emulator serves Cloud Control, SageMaker's JSON API and EFS's DescribeFileSystems on one
port (see its README).

Usage::

    with EmulatorProcess(latency=0.2) as emu:
        emu.add_domain("d-abc123", "us-east-1")
        client = emu.boto3_client("us-east-1")
        client.create_resource(TypeName="AWS::SageMaker::UserProfile", DesiredState=...)
        assert emu.stats()["calls"]["CreateResource"] == 1

Public API (stable):

* ``EmulatorProcess(latency=0.5, account_id="123456789012", host="127.0.0.1", port=0,
  extra_args=(), env=None, start_timeout=15.0, cpu=None, app_delete_latency=None)`` — ``cpu`` pins the
  process to one CPU with ``taskset -c`` when available; ``app_delete_latency`` (seconds an app deleted
  through SageMaker stays ``Deleting``) is passed as ``--app-delete-latency`` when given.
  ``start()`` is called by ``__enter__`` (or call it yourself).
* ``.url``, ``.host``, ``.port``, ``.account_id``, ``.pid``, ``.env()`` (environment variables that point
  boto3 at the emulator: ``AWS_ENDPOINT_URL_CLOUDCONTROL``, ``AWS_ENDPOINT_URL_SAGEMAKER``,
  ``AWS_ENDPOINT_URL_EFS`` and dummy credentials).
* ``.admin(method, path, json=None)`` → decoded JSON (raises :class:`EmulatorAdminError` on HTTP >= 400).
* ``add_domain(domain_id, region)``, ``domains()``, ``stats()``, ``reset(keep_domains=True)``,
  ``set_faults(operations=None, rate_limit=..., burst=..., seed=...)``, ``clear_faults()``,
  ``faults()``, ``set_latency(seconds)``, ``set_config(**knobs)``, ``config()``,
  ``oob_create(region, desired_state | [desired_states])``, ``oob_patch(region, identifier, patch)``,
  ``oob_delete(region, identifier)``, ``resources(region=None)``, ``requests(region=None)``,
  ``set_app_delete_latency(seconds)``, ``slow_app_deletes(seconds)`` (a context manager),
  ``set_app_status(region, domain_id, app_type, app_name, user_profile_name=None, space_name=None,
  status="Failed", failure_reason=None)`` (an app becomes
  ``Failed``, or ``InService`` at once).
* ``boto3_client(region, **config)`` — a ``cloudcontrol`` client with dummy credentials;
  ``sagemaker_client(region, **config)`` and ``efs_client(region, **config)`` likewise.
* ``poll()`` — the exit status once it has exited by itself, else None.
* ``stop()`` — SIGTERM, wait, SIGKILL if needed; idempotent; then ``.returncode`` holds the exit status.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

from tests.support.manifests import platform_kit_named_in
from tests.support.processes import stop_process

LISTENING_PREFIX = "listening on "
_UNSET: Any = object()


class EmulatorAdminError(RuntimeError):
    """An admin call answered with HTTP >= 400."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"emulator admin call failed ({status}): {body}")
        self.status = status
        self.body = body


class EmulatorProcess:
    """``python -m cloudcontrol_emulator`` in a subprocess, with helpers for its admin API."""

    def __init__(
        self,
        latency: float = 0.5,
        account_id: str = "123456789012",
        host: str = "127.0.0.1",
        port: int = 0,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        start_timeout: float = 15.0,
        cpu: int | None = None,
        app_delete_latency: float | None = None,
    ) -> None:
        self.latency = latency
        self.app_delete_latency = app_delete_latency
        self.account_id = account_id
        self.host = host
        self.port = port
        self.extra_args = list(extra_args)
        self.extra_env = dict(env or {})
        self.start_timeout = start_timeout
        self.cpu = cpu
        self.url = ""
        self._process: subprocess.Popen[str] | None = None
        self.returncode: int | None = None
        """Exit status once :meth:`stop` has run (0 after a clean SIGTERM shutdown)."""
        self._stderr_lines: list[str] = []

    # -- lifecycle

    def command(self) -> list[str]:
        command = [
            sys.executable,
            "-m",
            "cloudcontrol_emulator",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--account-id",
            self.account_id,
            "--latency",
            str(self.latency),
            *(() if self.app_delete_latency is None else ("--app-delete-latency", str(self.app_delete_latency))),
            *self.extra_args,
        ]
        taskset = shutil.which("taskset")
        if self.cpu is not None and taskset:
            command = [taskset, "-c", str(self.cpu), *command]
        return command

    def start(self) -> EmulatorProcess:
        if self._process is not None:
            return self
        env = {**os.environ, **self.extra_env}
        self._process = subprocess.Popen(
            self.command(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,  # a terminal's Ctrl-C reaches the caller only, who then stops us
        )
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        line = self._read_first_line()
        if not line.startswith(LISTENING_PREFIX):
            self.stop()
            raise RuntimeError(f"emulator did not start: {line!r}; stderr: {''.join(self._stderr_lines)}")
        self.url = line[len(LISTENING_PREFIX) :].strip()
        self.port = int(self.url.rsplit(":", 1)[1])
        threading.Thread(target=self._drain_stdout, daemon=True).start()
        return self

    def _read_first_line(self) -> str:
        assert self._process is not None and self._process.stdout is not None
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(self._process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(self.start_timeout)
        if not result:
            self.stop()
            raise RuntimeError(f"emulator printed nothing in {self.start_timeout}s")
        return result[0]

    def _drain_stderr(self) -> None:
        process = self._process
        if process is not None and process.stderr is not None:
            for line in process.stderr:
                self._stderr_lines.append(line)
                del self._stderr_lines[:-200]

    def _drain_stdout(self) -> None:
        process = self._process
        if process is not None and process.stdout is not None:
            for _ in process.stdout:
                pass

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def stderr(self) -> str:
        """The last lines the emulator wrote to stderr."""
        return "".join(self._stderr_lines)

    def poll(self) -> int | None:
        """The exit status if the emulator has exited by itself, else None (also before start)."""
        return self._process.poll() if self._process is not None else None

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        stop_process(process, timeout)
        self.returncode = process.returncode
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- admin API

    def admin(self, method: str, path: str, json_body: Any = None) -> Any:
        """Call ``/_emulator/...`` (``path`` with or without that prefix); returns the decoded JSON."""
        if not path.startswith("/_emulator"):
            path = "/_emulator/" + path.lstrip("/")
        data = json.dumps(json_body).encode() if json_body is not None else None
        request = urllib.request.Request(
            self.url + path, data=data, method=method.upper(), headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
            raise EmulatorAdminError(error.code, body) from None

    def add_domain(self, domain_id: str, region: str) -> Any:
        return self.admin("POST", "/_emulator/domains", {"DomainId": domain_id, "Region": region})

    def domains(self) -> list[dict[str, str]]:
        result: list[dict[str, str]] = self.admin("GET", "/_emulator/domains")["Domains"]
        return result

    def stats(self) -> dict[str, dict[str, int]]:
        """``{"calls": {Operation: n}, "throttled": {Operation: n}, "errors": {"Op:Error": n}}``."""
        result: dict[str, dict[str, int]] = self.admin("GET", "/_emulator/stats")
        return result

    def reset(self, keep_domains: bool = True) -> Any:
        return self.admin("POST", "/_emulator/reset", {"KeepDomains": keep_domains})

    def set_faults(
        self,
        operations: Mapping[str, Mapping[str, Any]] | None = None,
        rate_limit: float | None = _UNSET,
        burst: float | None = _UNSET,
        seed: int | None = _UNSET,
    ) -> Any:
        """Merge fault settings; e.g. ``set_faults(rate_limit=25)`` or
        ``set_faults({"GetResource": {"ErrorRate": 0.5, "Error": "ServiceInternalErrorException"}})``."""
        body: dict[str, Any] = {}
        if operations is not None:
            body["Operations"] = {name: dict(value) for name, value in operations.items()}
        for key, value in (("RateLimit", rate_limit), ("Burst", burst), ("Seed", seed)):
            if value is not _UNSET:
                body[key] = value
        return self.admin("POST", "/_emulator/faults", body)

    def faults(self) -> Any:
        return self.admin("GET", "/_emulator/faults")

    def clear_faults(self) -> Any:
        return self.admin("DELETE", "/_emulator/faults")

    def config(self) -> Any:
        return self.admin("GET", "/_emulator/config")

    def set_config(self, **knobs: Any) -> Any:
        """Keys as in the README: ``Latency``, ``FillDefaults``, ``Defaults``, ``ListFullProperties``,
        ``CreateEventIdentifier``, ``AppDeleteLatency``."""
        return self.admin("POST", "/_emulator/config", knobs)

    def set_latency(self, seconds: float) -> Any:
        return self.set_config(Latency=seconds)

    def set_app_delete_latency(self, seconds: float) -> Any:
        """How long an app deleted through SageMaker's DeleteApp stays ``Deleting``."""
        return self.set_config(AppDeleteLatency=seconds)

    @contextlib.contextmanager
    def slow_app_deletes(self, seconds: float) -> Iterator[EmulatorProcess]:
        """Apps stay ``Deleting`` for `seconds` inside the block; as before after it."""
        before = self.config()["AppDeleteLatency"]
        self.set_app_delete_latency(seconds)
        try:
            yield self
        finally:
            self.set_app_delete_latency(before)

    def set_app_status(
        self,
        region: str,
        domain_id: str,
        app_type: str,
        app_name: str,
        user_profile_name: str | None = None,
        space_name: str | None = None,
        status: str = "Failed",
        failure_reason: str | None = None,
    ) -> Any:
        """Make a live app ``Failed`` (it then blocks nothing; DeleteApp says it previously failed) or
        ``InService`` at once. Name its owner with ``user_profile_name`` or ``space_name``."""
        body: dict[str, Any] = {"Region": region, "DomainId": domain_id, "AppType": app_type, "AppName": app_name}
        body["Status"] = status
        for key, value in (
            ("UserProfileName", user_profile_name),
            ("SpaceName", space_name),
            ("FailureReason", failure_reason),
        ):
            if value is not None:
                body[key] = value
        return self.admin("POST", "/_emulator/apps/status", body)

    @contextlib.contextmanager
    def slowed(self, seconds: float) -> Iterator[EmulatorProcess]:
        """Requests take `seconds` inside the block; the latency before it (and no faults) after."""
        before = self.config()["Latency"]
        self.set_latency(seconds)
        try:
            yield self
        finally:
            self.set_latency(before)
            self.clear_faults()

    def oob_create(self, region: str, desired_state: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> Any:
        """Create at once, as in the console; a list creates many (bulk seeding)."""
        if isinstance(desired_state, Mapping):
            return self.admin("POST", "/_emulator/resources/create", {"Region": region, "DesiredState": desired_state})
        items = [{"Region": region, "DesiredState": dict(item)} for item in desired_state]
        return self.admin("POST", "/_emulator/resources/create", items)

    def add_platform_kit_named_in(self, region: str, manifests: Iterable[Mapping[str, Any]]) -> None:
        """Create, as in the console, the lifecycle configs, images and app image configs that the settings
        of these manifests name (the examples' placeholders): SageMaker refuses settings naming what does
        not exist."""
        named = platform_kit_named_in(m["spec"] for m in manifests)
        items = [{"Region": region, "TypeName": t, "DesiredState": d} for t, d in named]
        if items:
            self.admin("POST", "/_emulator/resources/create", items)

    def oob_patch(self, region: str, identifier: str, patch: Sequence[Mapping[str, Any]]) -> Any:
        body = {"Region": region, "Identifier": identifier, "PatchDocument": [dict(op) for op in patch]}
        return self.admin("POST", "/_emulator/resources/patch", body)

    def oob_delete(self, region: str, identifier: str) -> Any:
        return self.admin("POST", "/_emulator/resources/delete", {"Region": region, "Identifier": identifier})

    def resources(self, region: str | None = None) -> list[dict[str, Any]]:
        """``[{"Region", "Identifier", "Properties": {...}}]`` for one region or all."""
        query = f"?Region={region}" if region else ""
        result: list[dict[str, Any]] = self.admin("GET", f"/_emulator/resources{query}")["Resources"]
        return result

    def requests(self, region: str | None = None) -> list[dict[str, Any]]:
        """Every resource request (ProgressEvents plus ``Region``), oldest first."""
        query = f"?Region={region}" if region else ""
        result: list[dict[str, Any]] = self.admin("GET", f"/_emulator/requests{query}")["Requests"]
        return result

    # -- clients

    def env(self) -> dict[str, str]:
        """Environment that points boto3 (>= 1.28.57) at this emulator with dummy credentials."""
        return {
            "AWS_ENDPOINT_URL_CLOUDCONTROL": self.url,
            "AWS_ENDPOINT_URL_SAGEMAKER": self.url,
            "AWS_ENDPOINT_URL_EFS": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }

    def boto3_client(self, region: str, **config: Any) -> Any:
        """A ``cloudcontrol`` client pointed at the emulator; ``config`` goes to ``botocore.Config``."""
        return self._client("cloudcontrol", region, config)

    def sagemaker_client(self, region: str, **config: Any) -> Any:
        """A ``sagemaker`` client pointed at the emulator; ``config`` goes to ``botocore.Config``."""
        return self._client("sagemaker", region, config)

    def efs_client(self, region: str, **config: Any) -> Any:
        """An ``efs`` client pointed at the emulator; ``config`` goes to ``botocore.Config``."""
        return self._client("efs", region, config)

    def _client(self, service: str, region: str, config: Mapping[str, Any]) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            service,
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(**config) if config else None,
        )
