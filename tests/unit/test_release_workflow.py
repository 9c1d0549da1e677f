"""The release workflow: actionlint finds nothing, and it publishes what deploy/README.md promises.

On a tag v<version>: the image for linux/amd64 and linux/arm64 to ghcr.io, then the chart, with
version, appVersion and image.tag set from the tag, to oci://ghcr.io/<owner>/charts.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO_ROOT / ".github" / "workflows"
RELEASE = WORKFLOWS / "release.yml"
ACTIONLINT = REPO_ROOT / "hack" / "actionlint.sh"


def release() -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(RELEASE.read_text())
    return loaded


def steps() -> list[dict[str, Any]]:
    jobs = release()["jobs"]
    assert len(jobs) == 1, "one job: the chart is pushed only after the image"
    found: list[dict[str, Any]] = next(iter(jobs.values()))["steps"]
    return found


def step_using(action: str) -> dict[str, Any]:
    matches = [s for s in steps() if s.get("uses", "").split("@")[0] == action]
    assert len(matches) == 1, action
    return matches[0]


def chart_script() -> str:
    scripts = [s["run"] for s in steps() if "helm push" in s.get("run", "")]
    assert len(scripts) == 1
    return scripts[0]


def test_actionlint_finds_nothing() -> None:
    # Builds actionlint once (seconds, from the Go module proxy) into ~/.cache; then it is instant.
    if shutil.which("go") is None and subprocess.run([ACTIONLINT, "path"], capture_output=True).returncode:
        pytest.skip("go is needed to build actionlint")
    result = subprocess.run([ACTIONLINT, "-color=false"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


def test_runs_on_version_tags_only() -> None:
    # PyYAML reads the key `on` as True.
    trigger = release()[True]
    assert trigger == {"push": {"tags": ["v*"]}}


def test_the_tag_must_match_the_package_version() -> None:
    script = next(s["run"] for s in steps() if s.get("id") == "meta")
    assert 'version="${GITHUB_REF_NAME#v}"' in script
    assert "pyproject.toml" in script and "exit 1" in script


def test_image_for_both_platforms_pushed_to_ghcr_with_the_version_tag() -> None:
    build = step_using("docker/build-push-action")["with"]
    assert set(build["platforms"].split(",")) == {"linux/amd64", "linux/arm64"}
    assert build["push"] is True
    assert build["file"] == "deploy/Dockerfile"
    assert build["tags"] == "${{ steps.meta.outputs.image }}:${{ steps.meta.outputs.version }}"
    for arg in ("VERSION", "REVISION", "CREATED", "SOURCE"):
        assert re.search(rf"^{arg}=\S", build["build-args"], re.MULTILINE), arg
    step_using("docker/setup-qemu-action")
    step_using("docker/setup-buildx-action")
    assert step_using("docker/login-action")["with"]["registry"] == "ghcr.io"
    meta = next(s["run"] for s in steps() if s.get("id") == "meta")
    assert 'image=ghcr.io/${owner}/sagemaker-userprofile-operator"' in meta
    assert 'charts=oci://ghcr.io/${owner}/charts"' in meta


def test_chart_versioned_from_the_tag_with_the_image_pinned_and_pushed_as_oci() -> None:
    script = chart_script()
    assert '--version "$VERSION" --app-version "$VERSION"' in script
    assert 'tag: \\"${VERSION}\\"' in script and "repository: ${IMAGE}" in script
    assert "helm template" in script and 'image: \\"${IMAGE}:${VERSION}\\"' in script
    assert re.search(r'helm push "\$package" "\$CHARTS"', script)
    # the chart step comes after the image step
    names = [s.get("uses", "").split("@")[0] or s.get("name") for s in steps()]
    assert names.index("docker/build-push-action") < names.index("Chart")


def test_the_sed_lines_pin_the_image_in_values_yaml() -> None:
    values = (REPO_ROOT / "deploy" / "helm" / "sagemaker-userprofile-operator" / "values.yaml").read_text()
    # The workflow rewrites the lines `  repository: ...` and `  tag: ...`: exactly one of each.
    assert len(re.findall(r"^  repository: ", values, re.MULTILINE)) == 1
    assert len(re.findall(r"^  tag: ", values, re.MULTILINE)) == 1


def test_helm_is_the_pinned_version() -> None:
    versions = dict(
        line.split("=", 1)
        for line in (REPO_ROOT / "hack" / "versions.env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert step_using("azure/setup-helm")["with"]["version"] == versions["HELM_VERSION"]


def test_actions_pinned_by_version_tags() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        for uses in re.findall(r"uses:\s*(\S+)", path.read_text()):
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+(\.\d+){0,2}", uses), f"{path.name}: {uses}"


def test_release_publishes_with_least_privilege() -> None:
    workflow = release()
    assert workflow["permissions"] == {"contents": "read"}
    job = next(iter(workflow["jobs"].values()))
    assert job["permissions"] == {"contents": "read", "packages": "write"}
