"""deploy/Dockerfile builds a non-root image from a pinned base (no Docker engine here: static checks)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "deploy" / "Dockerfile"
CHART = REPO_ROOT / "deploy" / "helm" / "sagemaker-userprofile-operator"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with comments dropped and continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, args = line.partition(" ")
            out.append((keyword.upper(), args.strip()))
    return out


def args_defaults() -> dict[str, str]:
    return dict(arg.split("=", 1) for kw, arg in instructions() if kw == "ARG" and "=" in arg)


def base_images() -> list[str]:
    defaults = args_defaults()
    images = []
    for kw, args in instructions():
        if kw == "FROM":
            image = args.split()[0]
            images.append(re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], image))
    return images


def test_multi_stage_from_a_pinned_python_312_slim() -> None:
    images = base_images()
    assert len(images) >= 2, "expected a build stage and a runtime stage"
    for image in images:
        name, _, tag = image.partition(":")
        assert name == "python"
        assert re.fullmatch(r"3\.12\.\d+-slim(-\w+)?", tag), f"{image} is not pinned to a 3.12 patch version"
        assert "latest" not in image


def test_runs_as_numeric_non_root_user() -> None:
    users = [args for kw, args in instructions() if kw == "USER"]
    assert users, "no USER instruction"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0
    assert int(uid) == 65532  # the chart's runAsUser


def test_entrypoint_and_default_command() -> None:
    entrypoint = [json.loads(a) for kw, a in instructions() if kw == "ENTRYPOINT"]
    cmd = [json.loads(a) for kw, a in instructions() if kw == "CMD"]
    assert entrypoint[-1] == ["userprofile-operator"]
    assert cmd[-1] == ["run", "--all-namespaces", "--liveness", "http://0.0.0.0:8081/healthz"]


def test_runtime_stage_installs_from_the_build_stage() -> None:
    stages = " ".join(f"{kw} {a}" for kw, a in instructions())
    assert re.search(r"FROM \S+ AS build", stages)
    assert "COPY --from=build" in stages
    assert "pip wheel" in stages


def test_no_latest_anywhere() -> None:
    assert ":latest" not in DOCKERFILE.read_text()


def test_dockerignore_keeps_the_context_to_the_operator() -> None:
    patterns = [
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    assert {"!pyproject.toml", "!operator/", "operator/cloudcontrol_emulator"} <= set(patterns)


def test_chart_app_version_matches_the_package_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    version = re.search(r'^version = "([^"]+)"', pyproject, re.MULTILINE)
    assert version is not None
    assert chart["appVersion"] == version.group(1)
