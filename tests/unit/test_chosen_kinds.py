"""Kinds are chosen, not all-or-nothing (issue 23, part 6): `run --kinds` says which kinds to manage; an
enabled kind whose CRD is not served is reported (/readyz, one log line, `smup_kind_served`) while the
others are reconciled, and is picked up when its CRD appears; a busy port and a library's per-request
warning are one line each.

The watch self-check runs against the fakes of test_survival (kopf's discovery and the API server's);
the command line runs as a subprocess where it sets process-wide state (logging, warnings, ports).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from kubernetes.client.exceptions import ApiException
from prometheus_client import REGISTRY

from tests.unit.test_survival import Clock, FakeObjects, _guard, obj
from userprofile_operator.cli import main
from userprofile_operator.handlers import Runtime
from userprofile_operator.health import Health, Phase
from userprofile_operator.kinds import all_kinds, by_name, select
from userprofile_operator.kinds.domain import KIND as DOMAIN
from userprofile_operator.kinds.space import KIND as SPACE
from userprofile_operator.kinds.userprofile import KIND as PROFILE
from userprofile_operator.kube import ObjectClient
from userprofile_operator.settings import Settings

OPERATOR = str(Path(sys.executable).parent / "userprofile-operator")
UNSERVED = "not served by the API server, so not watched (is the CRD installed?)"
KNOWN = (
    "known: sagemakeruserprofiles, smup, sagemakerappimageconfigs, smaic, sagemakerdomains, smdomain, "
    "sagemakerimages, smimage, sagemakerimageversions, smimageversion, sagemakerspaces, smspace, "
    "sagemakerstudiolifecycleconfigs, smlcc, or all"
)


# -- --kinds --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ("smup", (PROFILE,)),
        ("smspace,smup", (PROFILE, SPACE)),  # in the kinds' own order, whatever the order given
        ("sagemakerspaces, SageMakerDomain", (DOMAIN, SPACE)),  # plural and kind name, any case, spaces
        ("SMUP,sagemakeruserprofile,smup", (PROFILE,)),  # each once, whatever name it is given by
        ("all", all_kinds()),
        ("ALL", all_kinds()),
        ("", all_kinds()),
    ],
)
def test_kinds_are_named_by_short_name_plural_or_kind_name(names: str, expected: tuple[object, ...]) -> None:
    assert select(names) == expected


def test_unknown_kinds_are_one_error_naming_each_and_the_known_ones() -> None:
    with pytest.raises(ValueError) as one:
        select("smup,smapp")
    assert str(one.value) == f"unknown kind 'smapp'; {KNOWN}"
    with pytest.raises(ValueError, match=r"^unknown kinds 'x', 'all'"):
        select("x,all")  # `all` alone, never beside kinds


def test_the_setting_keeps_the_plurals_of_the_chosen_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().kinds == "all"
    assert Settings(kinds="smspace,smup").kinds == "sagemakeruserprofiles,sagemakerspaces"
    assert Settings(kinds="smup,smdomain,smspace,smlcc,smimage,smimageversion,smaic").kinds == "all"
    monkeypatch.setenv("SMUP_KINDS", "smdomain")
    assert Settings().kinds == "sagemakerdomains"


def test_run_refuses_an_unknown_kind_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--kinds", "smup,smapp"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: --kinds / SMUP_KINDS: unknown kind 'smapp'; {KNOWN}\n"


def test_run_help_describes_kinds(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert (
        "--kinds KINDS the kinds to manage, comma-separated: smup, smdomain, smspace, smlcc, smimage, "
        "smimageversion, smaic" in help_text
    )
    assert "default: all (SMUP_KINDS)" in help_text


# -- the watch self-check: what is served, what is reported ---------------------------------------------


STUDIO = (PROFILE, DOMAIN, SPACE)
"""The kinds of the watch self-check's tests: what they show holds for any number of kinds."""


def served_metric(kind: str) -> float | None:
    return REGISTRY.get_sample_value("smup_kind_served", {"kind": kind})


def test_a_kind_whose_crd_is_not_served_is_reported_once_and_the_others_are_watched(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="userprofile_operator.watchguard")
    clock = Clock()
    objects = FakeObjects([])
    objects.served = {PROFILE.crd_name}  # only the profile CRD is installed
    kopf = {PROFILE.crd_name}
    guard = _guard(objects, clock, kopf, kinds=STUDIO)
    for _ in range(12):
        asyncio.run(guard.step())
        clock.now += 1
    state = guard.state
    assert state.watched == {PROFILE.crd_name}
    assert state.unserved == {DOMAIN.crd_name, SPACE.crd_name}
    assert state.problem() is None, "a CRD that is not installed is no reason to restart"
    assert state.not_ready() is None, "ready: the profiles are reconciled"
    assert state.missing() == (
        "not served by the API server (is the CRD installed?): "
        "sagemakerdomains.sagemaker.awscc.dev, sagemakerspaces.sagemaker.awscc.dev"
    )
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        f"{UNSERVED}: {DOMAIN.crd_name}, {SPACE.crd_name}; picked up once served. Watching: {PROFILE.crd_name}"
    ]
    assert objects.discovery_reads == 3, "discovery is read every 5 s while a kind is missing, not every second"
    assert kopf == {PROFILE.crd_name}, "kopf is not asked to read discovery for what the API server does not serve"
    assert (served_metric("SageMakerUserProfile"), served_metric("SageMakerSpace")) == (1, 0)


def test_a_crd_that_appears_later_is_picked_up(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="userprofile_operator.watchguard")
    clock = Clock()
    objects = FakeObjects([])
    objects.served = {PROFILE.crd_name}
    kopf = {PROFILE.crd_name}
    guard = _guard(objects, clock, kopf, kinds=STUDIO)
    asyncio.run(guard.step())
    caplog.clear()

    objects.served.add(SPACE.crd_name)  # the space CRD is applied; kopf's scan on its event came too early
    clock.now += 5
    asyncio.run(guard.step())
    assert guard.state.watched == {PROFILE.crd_name, SPACE.crd_name} and guard.state.unserved == {DOMAIN.crd_name}
    assert [r.getMessage() for r in caplog.records] == [
        "sagemakerspaces.sagemaker.awscc.dev is served now: watching it"
    ]
    assert served_metric("SageMakerSpace") == 1
    assert guard.state.missing() == "not served by the API server (is the CRD installed?): " + DOMAIN.crd_name

    caplog.clear()
    objects.served.add(DOMAIN.crd_name)
    kopf.add(DOMAIN.crd_name)  # this time kopf's own CRD watch was enough
    clock.now += 1
    asyncio.run(guard.step())
    assert [r.getMessage() for r in caplog.records] == [
        "sagemakerdomains.sagemaker.awscc.dev is served now: watching it"
    ]
    assert guard.state.missing() is None and guard.state.unserved == set()


def test_a_kind_whose_crd_goes_away_is_reported_and_the_rest_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="userprofile_operator.watchguard")
    clock = Clock()
    objects = FakeObjects([])
    kopf = {k.crd_name for k in STUDIO}
    guard = _guard(objects, clock, kopf, kinds=STUDIO)
    asyncio.run(guard.step())
    objects.served.discard(SPACE.crd_name)  # the CRD is deleted; kopf drops it on the CRD's event
    kopf.discard(SPACE.crd_name)
    for _ in range(3):
        clock.now += 1
        asyncio.run(guard.step())
    assert guard.state.unserved == {SPACE.crd_name} and guard.state.problem() is None
    assert [r.getMessage() for r in caplog.records] == [
        f"{UNSERVED}: {SPACE.crd_name}; picked up once served. Watching: {PROFILE.crd_name}, {DOMAIN.crd_name}"
    ]


def test_with_no_enabled_kind_served_the_operator_is_not_ready_but_alive() -> None:
    clock = Clock()
    objects = FakeObjects([])
    objects.served = set()
    guard = _guard(objects, clock, set(), kinds=(PROFILE, SPACE))
    for _ in range(40):
        asyncio.run(guard.step())
        clock.now += 1
    assert guard.state.problem() is None
    assert guard.state.not_ready() == (
        "no enabled kind is watched: not served by the API server (is the CRD installed?): "
        "sagemakeruserprofiles.sagemaker.awscc.dev, sagemakerspaces.sagemaker.awscc.dev"
    )


def test_when_the_api_server_cannot_tell_what_was_known_stays() -> None:
    clock = Clock()
    objects = FakeObjects([])
    objects.served = {PROFILE.crd_name}
    guard = _guard(objects, clock, {PROFILE.crd_name}, kinds=(PROFILE, SPACE))
    asyncio.run(guard.step())
    objects.down = True
    for _ in range(40):
        clock.now += 1
        asyncio.run(guard.step())
    assert guard.state.unserved == {SPACE.crd_name} and guard.state.problem() is None


def test_the_probe_touches_objects_of_watched_kinds_only() -> None:
    """The domain comes first, and its CRD is not served: listing it would fail every time, and the probe
    would never reach the profiles."""
    clock = Clock()
    objects = FakeObjects([obj("alice")])
    objects.served = {PROFILE.crd_name}
    guard = _guard(objects, clock, {PROFILE.crd_name}, kinds=(DOMAIN, PROFILE))
    clock.now += 60
    asyncio.run(guard.step())
    probe = guard.state.probe
    assert probe is not None and probe.kind is PROFILE and [name for name, _ in objects.patches] == ["alice"]


class FakeDiscovery:
    """The Kubernetes client's CustomObjectsApi as far as discovery goes: the group's resources, or an error."""

    def __init__(self, resources: dict[str, list[str]] | None = None, status: int | None = None) -> None:
        self.resources, self.status = resources, status

    def get_api_resources(self, group: str, version: str, **_: Any) -> Any:
        if self.resources is None:
            raise ApiException(status=self.status or 503)
        return SimpleNamespace(resources=[SimpleNamespace(name=n, verbs=v) for n, v in self.resources.items()])


def serving(discovery: FakeDiscovery) -> list[str] | None:
    client = object.__new__(ObjectClient)  # no connection: only the discovery call is faked
    client._objects = discovery
    found = asyncio.run(client.serving(all_kinds()))
    return None if found is None else [kind.plural for kind in found]


def test_served_means_listed_with_the_verbs_kopf_needs() -> None:
    verbs = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]
    terminating = ["get", "list", "watch", "delete", "deletecollection"]  # a CRD being deleted: no patch
    discovery = FakeDiscovery({"sagemakeruserprofiles": verbs, "sagemakerspaces": terminating})
    assert serving(discovery) == ["sagemakeruserprofiles"]
    assert serving(FakeDiscovery(status=404)) == [], "no CRD of the group at all: none served"
    assert serving(FakeDiscovery(status=503)) is None, "an API server that cannot answer cannot tell"


# -- readiness says what is missing ---------------------------------------------------------------------


def test_readyz_is_ok_with_a_message_naming_the_missing_kinds() -> None:
    missing = "not served by the API server (is the CRD installed?): sagemakerspaces.sagemaker.awscc.dev"
    note: list[str | None] = [missing]
    not_ready: list[str | None] = [None]
    health = Health(phase=Phase.LEADING, ready_checks=[lambda: not_ready[0]], notes=[lambda: note[0]])

    async def answers() -> list[tuple[int, dict[str, Any]]]:
        seen = []
        async with TestClient(TestServer(health.app())) as client:
            for reason in (None, f"no enabled kind is watched: {missing}"):
                not_ready[0] = reason
                for path in ("/readyz", "/healthz"):
                    response = await client.get(path)
                    seen.append((response.status, json.loads(await response.text())))
            note[0], not_ready[0] = None, None
            response = await client.get("/readyz")
            seen.append((response.status, json.loads(await response.text())))
        return seen

    ready, live, not_ready_answer, live_again, all_served = asyncio.run(answers())
    assert ready == (200, {"ok": True, "phase": "Leading", "reason": "", "message": missing})
    assert live[0] == 200 and live_again[0] == 200, "liveness does not depend on which CRDs are installed"
    # the reason already says it: no message repeating it
    assert not_ready_answer == (
        503,
        {"ok": False, "phase": "Leading", "reason": f"no enabled kind is watched: {missing}"},
    )
    assert all_served == (200, {"ok": True, "phase": "Leading", "reason": ""})


# -- the runtime with some kinds ------------------------------------------------------------------------


def test_a_reference_to_a_kind_not_managed_here_says_so() -> None:
    runtime = Runtime(Settings(), [PROFILE])
    body = {"metadata": {"namespace": "ns", "name": "alice", "uid": "u"}, "spec": {"domainIdRef": {"name": "studio"}}}
    view, _ = runtime.view(PROFILE, body, retry=0)
    assert view.waiting == (
        "SageMakerDomain studio (not watched: SageMakerDomain is not among this operator's kinds, see run --kinds)",
    )
    both = Runtime(Settings(), [PROFILE, DOMAIN])
    both.watch.set_coverage([PROFILE.crd_name], [DOMAIN.crd_name])
    view, _ = both.view(PROFILE, body, retry=0)
    assert view.waiting == (
        "SageMakerDomain studio (not watched: sagemakerdomains.sagemaker.awscc.dev is not served by the API server)",
    )


def test_a_tag_naming_an_object_of_a_kind_not_watched_here_is_not_judged_gone() -> None:
    """Offboarding asks whether a space tagged by this cluster still has its object; an operator that does
    not watch spaces cannot know, so the profile's delete waits for it rather than deleting it."""
    profiles_only = Runtime(Settings(cluster_name="prod"), [PROFILE])
    assert profiles_only.manages(SPACE, "prod/team-a/lab")
    assert not profiles_only.manages(PROFILE, "prod/team-a/gone")
    unserved = Runtime(Settings(cluster_name="prod"), [PROFILE, SPACE])
    unserved.watch.set_coverage([PROFILE.crd_name], [SPACE.crd_name])
    assert unserved.manages(SPACE, "prod/team-a/lab")
    assert unserved.watched_kinds() == (PROFILE,), "the resync lists only what kopf watches"


# -- one line, not a traceback; warnings said once ------------------------------------------------------


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        yield sock.getsockname()[1]


def run_operator(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": "/nonexistent", "SMUP_LOG_FORMAT": "text"}
    return subprocess.run([OPERATOR, "run", *args], capture_output=True, text=True, env=env, timeout=60)


def test_a_metrics_port_in_use_is_one_line_naming_the_flag(busy_port: int) -> None:
    proc = run_operator("--metrics-port", str(busy_port))
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.rstrip().endswith(
        f"cannot serve /metrics on port {busy_port}: already in use (another process listens there); "
        "choose another with --metrics-port (SMUP_METRICS_PORT), or 0 for no metrics"
    )


def test_a_liveness_port_in_use_is_one_line_naming_the_flag(busy_port: int) -> None:
    url = f"http://127.0.0.1:{busy_port}/healthz"
    proc = run_operator("--metrics-port", "0", "--liveness", url)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"cannot serve /healthz and /readyz on {url}: already in use" in proc.stderr
    assert "choose another port in --liveness" in proc.stderr


def test_urllib3s_per_request_warning_is_said_once_per_host_as_a_log_line(tmp_path: Path) -> None:
    """urllib3 asks for its security warnings on every request: three real unverified HTTPS requests to
    a local server (its certificate made here, with `cryptography`, which moto brings) say it once."""
    script = textwrap.dedent(
        """
        import datetime, http.server, ssl, sys, threading
        from pathlib import Path
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
        import urllib3
        from userprofile_operator import cli

        folder = Path(sys.argv[1])
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(hours=1))
            .sign(key, hashes.SHA256())
        )
        (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        pem = serialization.Encoding.PEM
        (folder / "key.pem").write_bytes(
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
        server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()

        cli._configure_logging("INFO", "json")
        pool = urllib3.PoolManager(cert_reqs="CERT_NONE")
        for _ in range(3):
            pool.request("GET", f"https://127.0.0.1:{server.server_address[1]}/", retries=False)
            pool.clear()  # a new connection each time, as after the API server closed one
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("{")]  # not the server's access log
    assert len(lines) == 1, proc.stderr
    entry = json.loads(lines[0])
    assert entry["logger"] == "py.warnings"
    assert entry["message"].startswith("InsecureRequestWarning: Unverified HTTPS request is being made to host")


# -- documented -----------------------------------------------------------------------------------------


def test_the_docs_document_every_setting_and_metric() -> None:
    from prometheus_client.metrics import MetricWrapperBase

    from userprofile_operator import metrics

    docs = Path(__file__).resolve().parents[2] / "docs"
    configuration = (docs / "configuration.md").read_text()
    settings = [f"SMUP_{field.upper()}" for field in Settings.model_fields]
    assert [name for name in settings if f"| `{name}` |" not in configuration] == []
    reference = (docs / "reference.md").read_text()
    families = [m.describe()[0].name for m in vars(metrics).values() if isinstance(m, MetricWrapperBase)]
    assert "smup_kind_served" in families
    assert [name for name in families if f"| `{name}" not in reference] == []


def test_objects_are_counted_by_kind_and_ready_condition() -> None:
    from prometheus_client import generate_latest

    from userprofile_operator import metrics

    runtime = Runtime(Settings(), all_kinds())
    profile = by_name("smup")

    def body(name: str, ready: str, reason: str) -> dict[str, Any]:
        condition = {"type": "Ready", "status": ready, "reason": reason, "observedGeneration": 1}
        return {"metadata": {"namespace": "team", "name": name, "generation": 1}, "status": {"conditions": [condition]}}

    runtime.saw(profile, "ADDED", body("alice", "False", "DeleteBlocked"))
    runtime.saw(profile, "ADDED", body("bob", "False", "DeleteBlocked"))
    runtime.saw(profile, "ADDED", body("carol", "True", "Available"))
    runtime.saw(profile, "DELETED", body("bob", "False", "DeleteBlocked"))
    metrics.count_objects(runtime.object_states)
    text = generate_latest().decode()
    assert 'smup_objects{kind="SageMakerUserProfile",ready="False",reason="DeleteBlocked"} 1.0' in text
    assert 'smup_objects{kind="SageMakerUserProfile",ready="True",reason="Available"} 1.0' in text
