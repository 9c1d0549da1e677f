"""`userprofile-operator demo` from start to stop, as a user runs it: a subprocess in the repository.

The demo starts its own control plane, emulator and operator; these tests check what it prints (both
examples Ready, the profiles as the emulator holds them) and that it leaves no process and no
temporary folder behind, after `--no-wait` and after Ctrl-C.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.kube import REPO_ROOT

DEMO = [str(Path(sys.executable).parent / "userprofile-operator"), "demo"]
pytestmark = pytest.mark.own_control_plane


def _env() -> dict[str, str]:
    # Nothing of the test session's cluster or AWS settings may leak into the demo.
    return {k: v for k, v in os.environ.items() if k != "KUBECONFIG" and not k.startswith(("AWS_", "SMUP_"))}


def _pids(output: str) -> dict[str, int]:
    line = next(line for line in output.splitlines() if line.startswith("pids: "))
    return {name: int(pid) for name, pid in (item.split("=") for item in line.removeprefix("pids: ").split())}


def _alive(pid: int) -> bool:
    """True when `pid` is a live process (not a zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _folders(output: str) -> list[Path]:
    """The demo's temporary folders, named in what it printed."""
    return sorted({Path(m) for m in re.findall(r"(/\S*/smup-(?:demo|controlplane)-[^/\s]+)", output)})


def _assert_all_gone(output: str) -> None:
    pids = _pids(output)
    assert set(pids) == {"etcd", "kube-apiserver", "emulator", "operator"}
    assert [name for name, pid in pids.items() if _alive(pid)] == []
    folders = _folders(output)
    assert len(folders) == 2, folders
    assert [f for f in folders if f.exists()] == []


def test_demo_no_wait_shows_both_profiles_ready_and_cleans_up() -> None:
    proc = subprocess.run([*DEMO, "--no-wait"], cwd=REPO_ROOT, env=_env(), capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout

    # The table: both examples, READY and SYNCED True.
    table = out.split("$ kubectl get smup -n demo -o wide\n", 1)[1].split("\n\n", 1)[0].splitlines()
    header = table[0].split()
    assert header[:6] == ["NAME", "PROFILE", "DOMAIN", "REGION", "READY", "SYNCED"]
    # By column position: a profile that names its domain by domainIdRef has an empty DOMAIN cell.
    starts = [table[0].index(f"{name} ") if name != header[-1] else table[0].index(name) for name in header]
    cells = [[row[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)] for row in table[1:]]
    rows = {cols[0]: dict(zip(header, cols, strict=True)) for cols in cells}
    assert set(rows) == {"alice", "bob", "carol", "dave"}  # the examples, and the Studio setup's profiles
    for row in rows.values():
        assert (row["READY"], row["SYNCED"], row["REGION"]) == ("True", "True", "us-east-1")

    # Every kind, by the category: the Studio setup's domain and spaces too.
    listing = out.split("$ kubectl get sagemaker -n demo\n", 1)[1].split("$ kubectl get smup", 1)[0]
    for name in (
        "sagemakerdomain.sagemaker.awscc.dev/studio",
        "sagemakerspace.sagemaker.awscc.dev/carol-notebooks",
        "sagemakerspace.sagemaker.awscc.dev/team-lab",
        "sagemakeruserprofile.sagemaker.awscc.dev/carol",
        # the platform kit
        "sagemakerstudiolifecycleconfig.sagemaker.awscc.dev/idle-shutdown",
        "sagemakerimage.sagemaker.awscc.dev/team-image",
        "sagemakerimageversion.sagemaker.awscc.dev/team-image-v1",
        "sagemakerappimageconfig.sagemaker.awscc.dev/team-image",
        "sagemakerdomain.sagemaker.awscc.dev/platform",
    ):
        assert name in listing, listing

    # The emulator's view: both profiles, tagged as owned by their objects.
    raw = out.split("GET /_emulator/resources?Region=us-east-1:\n", 1)[1]
    resources, _ = json.JSONDecoder().raw_decode(raw)
    by_id = {r["Identifier"]: r["Properties"] for r in resources}
    assert set(by_id) == {"alice|d-abcdef123456", "bob|d-abcdef123456"}
    owners = {
        key: {t["Key"]: t["Value"] for t in props["Tags"]}["sagemaker.awscc.dev/owner"] for key, props in by_id.items()
    }
    assert owners == {"alice|d-abcdef123456": "kubernetes/demo/alice", "bob|d-abcdef123456": "kubernetes/demo/bob"}
    assert by_id["bob|d-abcdef123456"]["UserSettings"]["StudioWebPortalSettings"]["HiddenMlTools"] == [
        "DataWrangler",
        "Comet",
    ]

    assert "export KUBECONFIG=" in out
    assert "stopped: operator, emulator and control plane" in out
    _assert_all_gone(out)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_demo_waits_until_interrupted_then_stops_everything(sig: signal.Signals) -> None:
    proc = subprocess.Popen(
        DEMO, cwd=REPO_ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        assert any(line.startswith("pids: ") for line in lines), "".join(lines)
        pids = _pids("".join(lines))
        assert all(_alive(pid) for pid in pids.values())
        proc.send_signal(sig)
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = "".join(lines) + rest
    assert proc.returncode == 0, out
    assert "stopped: operator, emulator and control plane" in out
    _assert_all_gone(out)
