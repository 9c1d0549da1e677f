"""The operator runs as a uid with no passwd entry, as in the chart's pod (runAsUser 65532 on an image
with no such user). kopf names itself with `getpass.getuser()` unless told otherwise, and that fails
there (`KeyError: 'getpwuid(): uid not found: 65532'`): the pod crash-looped (issue 13)."""

from __future__ import annotations

import pwd
import shutil
import subprocess
import uuid

import pytest

from tests.e2e.test_reconciler import apply, manifest, wait_ready
from tests.support.emulator import EmulatorProcess
from tests.support.kube import Kube
from tests.support.operator import OperatorProcess

UID = 65532
# A user namespace in which this process is uid 65532: no passwd entry, and no USER or LOGNAME to fall
# back on, as in a pod. Files are still reached as the caller outside.
AS_UNKNOWN_UID = [
    "env",
    "-u",
    "USER",
    "-u",
    "LOGNAME",
    "-u",
    "LNAME",
    "-u",
    "USERNAME",
    "unshare",
    "--user",
    f"--map-user={UID}",
    f"--map-group={UID}",
]


def _can_map_user() -> str | None:
    if shutil.which("unshare") is None:
        return "no unshare(1) here"
    probe = subprocess.run([*AS_UNKNOWN_UID, "id", "-u"], capture_output=True, text=True)
    if probe.returncode != 0 or probe.stdout.strip() != str(UID):
        return f"user namespaces are not available to this user: {probe.stderr.strip()}"
    return None


def test_the_operator_runs_as_a_uid_with_no_passwd_entry(kube: Kube, emulator: EmulatorProcess, crd: Kube) -> None:
    with pytest.raises(KeyError):
        pwd.getpwuid(UID)  # the premise: no such user on this machine either
    reason = _can_map_user()
    if reason is not None:
        pytest.skip(reason)
    namespace = f"nopw-{uuid.uuid4().hex[:8]}"
    kube.create_namespace(namespace)
    op = OperatorProcess(kube.kubeconfig, emulator.env(), namespaces=[namespace], wrapper=AS_UNKNOWN_UID)
    with op:
        apply(kube, namespace, manifest("nobody"))
        wait_ready(kube, namespace, "nobody")
        assert op.running, op.log()
    assert "getpwuid" not in op.log()
