"""deploy/Dockerfile builds a small non-root image on two overridable bases (static checks, no build here).

The image is built for real by `make image` (hack/image.sh: buildah on Debian bookworm bases) and
`make image-verify`; the release workflow builds the same Dockerfile with Docker on the python image.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "deploy" / "Dockerfile"
CHART = REPO_ROOT / "deploy" / "helm" / "sagemaker-userprofile-operator"
IMAGE_SH = REPO_ROOT / "hack" / "image.sh"


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


def stages() -> list[list[tuple[str, str]]]:
    """The instructions of each stage (global ARGs before the first FROM left out)."""
    out: list[list[tuple[str, str]]] = []
    for kw, args in instructions():
        if kw == "FROM":
            out.append([])
        if out:
            out[-1].append((kw, args))
    return out


def global_args() -> dict[str, str]:
    out = {}
    for kw, args in instructions():
        if kw == "FROM":
            break
        if kw == "ARG":
            name, _, default = args.partition("=")
            out[name] = default
    return out


def stage_args(stage: list[tuple[str, str]]) -> dict[str, str]:
    return dict(arg.partition("=")[::2] for kw, arg in stage if kw == "ARG")


def labels(stage: list[tuple[str, str]]) -> dict[str, str]:
    out = {}
    for kw, args in stage:
        if kw == "LABEL":
            for key, value in re.findall(r'(\S+?)=("[^"]*"|\S+)', args):
                out[key] = value.strip('"')
    return out


def package_version() -> str:
    match = re.search(r'^version = "([^"]+)"', (REPO_ROOT / "pyproject.toml").read_text(), re.MULTILINE)
    assert match is not None
    return match.group(1)


def test_two_bases_both_default_to_a_pinned_python_312_slim() -> None:
    args = global_args()
    assert set(args) >= {"BUILD_IMAGE", "RUNTIME_IMAGE"}
    assert args["BUILD_IMAGE"] == args["RUNTIME_IMAGE"], "the same image by default: one python at one path"
    name, _, tag = args["RUNTIME_IMAGE"].partition(":")
    assert name == "python"
    assert re.fullmatch(r"3\.12\.\d+-slim-\w+", tag), f"{args['RUNTIME_IMAGE']} is not pinned to a 3.12 patch version"
    froms = [s[0][1] for s in stages()]
    assert froms == ["${BUILD_IMAGE} AS build", "${RUNTIME_IMAGE}"]


def test_make_image_passes_both_bases_and_the_labels() -> None:
    script = IMAGE_SH.read_text()
    for arg in ("BUILD_IMAGE", "RUNTIME_IMAGE", "VERSION", "REVISION", "CREATED", "SOURCE"):
        assert f'--build-arg "{arg}=' in script, arg
    assert "--pull=never" in script
    assert "deploy/Dockerfile" in script


def test_the_build_stage_installs_into_a_virtualenv_with_pyc_and_without_pip() -> None:
    build = " ".join(a for kw, a in stages()[0] if kw == "RUN")
    assert "-m venv /opt/operator" in build
    assert "--only-binary=:all:" in build, "dependencies from wheels: no compiler in the build stage either"
    assert re.search(r"pip uninstall --yes pip\b", build)
    assert "compileall" in build and "--invalidation-mode=unchecked-hash" in build
    assert "userprofile-operator --version" in build


def test_final_stage_runs_nothing_and_copies_the_virtualenv_only() -> None:
    final = stages()[-1]
    assert not [a for kw, a in final if kw in {"RUN", "ADD"}], "no pip, no package manager, no compiler"
    copies = [a for kw, a in final if kw == "COPY"]
    assert copies == ["--from=build /opt/operator /opt/operator"]
    assert "pip" not in " ".join(a for kw, a in final if kw != "LABEL")


def test_runs_as_numeric_non_root_user() -> None:
    users = [args for kw, args in stages()[-1] if kw == "USER"]
    assert users, "no USER instruction"
    assert users[-1] == "65532:65532"  # numeric (runAsNonRoot), the chart's runAsUser and runAsGroup


def test_read_only_root_filesystem_ready() -> None:
    env = " ".join(a for kw, a in stages()[-1] if kw == "ENV")
    for setting in ("PYTHONDONTWRITEBYTECODE=1", "HOME=/tmp", "PATH=/opt/operator/bin:$PATH"):
        assert setting in env, setting


def test_entrypoint_and_default_command() -> None:
    final = stages()[-1]
    entrypoint = [json.loads(a) for kw, a in final if kw == "ENTRYPOINT"]
    cmd = [json.loads(a) for kw, a in final if kw == "CMD"]
    assert entrypoint[-1] == ["userprofile-operator"]
    assert cmd[-1] == ["run", "--all-namespaces", "--liveness", "http://0.0.0.0:8081/healthz"]


def test_oci_labels() -> None:
    final = stages()[-1]
    found = labels(final)
    prefix = "org.opencontainers.image."
    assert {k.removeprefix(prefix) for k in found} >= {
        "title",
        "description",
        "licenses",
        "version",
        "source",
        "revision",
        "created",
    }
    assert found[prefix + "title"] == "sagemaker-userprofile-operator"
    assert found[prefix + "licenses"] == "Apache-2.0"
    for name in ("version", "revision", "created", "source"):
        assert found[prefix + name] == "${" + name.upper() + "}"
    args = stage_args(final)
    assert args["VERSION"] == package_version(), "the default label version follows pyproject.toml"
    assert args["SOURCE"].startswith("https://github.com/")
    # The build arguments come last: a new revision or date rebuilds no layer.
    kinds = [kw for kw, _ in final]
    assert kinds.index("ARG") > max(i for i, kw in enumerate(kinds) if kw in {"COPY", "ENV", "USER", "CMD"})


def test_no_latest_anywhere() -> None:
    assert ":latest" not in DOCKERFILE.read_text()


def dockerignore() -> list[tuple[bool, re.Pattern[str]]]:
    """(exclude?, regex) of each .dockerignore pattern, as Docker and buildah read them.

    Go's filepath.Match syntax plus `**` (any number of folders); a leading `!` re-includes.
    """
    out = []
    for line in (REPO_ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exclude = not line.startswith("!")
        pattern = line.removeprefix("!").strip("/")
        regex = ""
        for token in re.findall(r"\*\*/|\*\*|\*|\?|[^*?]+", pattern):
            regex += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(token) or re.escape(token)
        out.append((exclude, re.compile(regex)))
    return out


def in_build_context(path: str) -> bool:
    """Whether .dockerignore lets `path` (relative to the root) into the build context: the last pattern
    that matches the path or one of its parent folders decides (moby's MatchesOrParentMatches)."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for exclude, regex in dockerignore():
        if any(regex.fullmatch(c) for c in candidates):
            excluded = exclude
    return not excluded


def test_dockerignore_keeps_the_context_to_the_operator() -> None:
    patterns = [
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    for path in ("pyproject.toml", "README.md", "LICENSE"):
        assert in_build_context(path), path
    for path in ("tests/unit/test_deploy_image.py", "deploy/Dockerfile", "crds/x.yaml", "bench/run.py", ".venv/x"):
        assert not in_build_context(path), path


def test_the_context_holds_both_operator_packages_and_their_schemas() -> None:
    source = REPO_ROOT / "operator"
    files = [p.relative_to(REPO_ROOT).as_posix() for p in source.rglob("*") if p.is_file()]
    inside = {f for f in files if in_build_context(f)}
    packages = {f.split("/")[1] for f in inside if f.count("/") >= 2}
    # The image's packages: a new one under operator/ must be let in (or out) on purpose.
    assert packages == {"userprofile_operator", "cfn_registry"}
    for package in packages:
        for f in files:
            if f.startswith(f"operator/{package}/") and "__pycache__" not in f and not f.endswith(".pyc"):
                assert f in inside, f
    schemas = {f for f in inside if f.startswith("operator/cfn_registry/schemas/") and f.endswith(".json")}
    assert {
        "operator/cfn_registry/schemas/aws-sagemaker-userprofile.json",
        "operator/cfn_registry/schemas/aws-sagemaker-space.json",
    } <= schemas
    assert not [f for f in inside if "cloudcontrol_emulator" in f or "__pycache__" in f or ".egg-info/" in f]


def test_the_build_smoke_checks_import_both_packages() -> None:
    build = " ".join(a for kw, a in stages()[0] if kw == "RUN")
    assert "import userprofile_operator.cli" in build
    assert "cfn_registry.load(t) for t in cfn_registry.type_names()" in build
    assert "cfn_registry.load(t) for t in cfn_registry.type_names()" in IMAGE_SH.read_text()


def test_chart_app_version_matches_the_package_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == package_version()


def test_default_image_name_is_the_charts() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert f"IMAGE=${{IMAGE:-{values['image']['repository']}:$version}}" in IMAGE_SH.read_text()


def _botocore_services() -> set[str]:
    args = stage_args(stages()[0])
    return set(args["BOTOCORE_SERVICES"].strip('"').split())


def test_botocore_keeps_the_models_of_every_service_the_operator_calls() -> None:
    # The build stage removes the models of every other AWS service (28 MB): a client the operator makes
    # must be among those kept, or it fails with UnknownServiceError in the image only.
    kept = _botocore_services()
    assert {"cloudcontrol", "sagemaker", "sts"} <= kept  # sts: IAM roles per namespace, and IRSA
    source = REPO_ROOT / "operator" / "userprofile_operator"
    called = {m for path in source.rglob("*.py") for m in re.findall(r'\.client\(\s*"([a-z0-9-]+)"', path.read_text())}
    assert called, "no boto3 client found: the pattern above no longer matches the code"
    assert called <= kept, f"the image has no botocore model for {sorted(called - kept)}"
    build = " ".join(a for kw, a in stages()[0] if kw == "RUN")
    assert "botocore/data/*/" in build and "$BOTOCORE_SERVICES" in build
    assert "boto3.client(s" in build, "the build makes a client of each kept service"


def test_only_the_generated_kubernetes_classes_lose_their_source() -> None:
    build = " ".join(a for kw, a in stages()[0] if kw == "RUN")
    generated = '"$site/kubernetes/client/api" "$site/kubernetes/client/models"'
    assert f"compileall -q -j0 -b --invalidation-mode=unchecked-hash {generated}" in build
    assert f"find {generated} -name '*.py' -delete" in build


def test_the_runtime_base_drops_perl_and_iconv_and_the_recipe_says_so() -> None:
    script = IMAGE_SH.read_text()
    runtime_opts = script[script.index("RUNTIME_OPTS=(") : script.index(")\nrecipe=")]
    assert "dpkg --purge --force-remove-essential --force-depends perl-base" in runtime_opts
    assert "path-exclude=/usr/lib/*/gconv/*" in runtime_opts
    assert "${RUNTIME_OPTS[*]}" in script[script.index("recipe=") :].splitlines()[0], "a changed cut makes new bases"
    assert '[ "$name" = runtime ] && extra=("${RUNTIME_OPTS[@]}")' in script, "the build base keeps perl"
