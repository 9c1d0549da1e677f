"""The `userprofile-operator` command line: one subcommand per job, each a thin wrapper."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from userprofile_operator import __version__


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="userprofile-operator",
        description="Manage Amazon SageMaker Studio user profiles as Kubernetes resources.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run the operator (kopf) against the current cluster")
    scope = run.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", default=[], help="watch this namespace (repeatable)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch all namespaces (default)")
    run.add_argument("--standalone", action="store_true", help=argparse.SUPPRESS)  # kopf peering is never used now
    run.add_argument(
        "--kinds",
        metavar="KINDS",
        help="the kinds to manage, comma-separated: smup, smdomain, smspace, smlcc, smimage, smimageversion, "
        "smaic (or their plurals or kind names); "
        "default: all (SMUP_KINDS). An enabled kind whose CRD is not served is reported on /readyz and picked "
        "up once it is; the others are reconciled meanwhile",
    )
    run.add_argument(
        "--liveness",
        metavar="URL",
        help="serve the liveness probe at URL, e.g. http://0.0.0.0:8081/healthz, and readiness at /readyz beside it",
    )
    run.add_argument(
        "--leader-elect",
        action="store_true",
        help="stand by until this process holds a coordination.k8s.io/v1 Lease; only the holder works",
    )
    run.add_argument("--leader-election-namespace", metavar="NS", help="the Lease's namespace (default: POD_NAMESPACE)")
    run.add_argument(
        "--leader-election-id",
        metavar="ID",
        default="sagemaker-userprofile-operator",
        help="the Lease's name (default: %(default)s)",
    )
    run.add_argument("--region", help="default AWS region (default: SMUP_DEFAULT_REGION, AWS_REGION)")
    run.add_argument("--cluster-name", help="names this cluster in the ownership tag of AWS profiles")
    run.add_argument("--drift-interval", type=float, help="seconds between drift checks of a profile (0: off)")
    run.add_argument("--aws-rate", type=float, help="Cloud Control calls per second per account and region")
    run.add_argument("--aws-burst", type=int, help="Cloud Control calls allowed in a burst")
    run.add_argument("--max-concurrent-aws-calls", type=int, help="Cloud Control calls in flight at once")
    run.add_argument("--metrics-port", type=int, help="Prometheus /metrics port (0: off)")
    run.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    run.add_argument("--log-format", choices=["json", "text"])

    crd = sub.add_parser(
        "crd", help="print a kind's CustomResourceDefinition, generated from its CloudFormation schema"
    )
    crd.add_argument(
        "--kind", help="the kind: smup (the default), smspace, smtp (the tenant policy), or any of its names"
    )
    crd.add_argument(
        "--output-dir",
        type=Path,
        help="write the CRDs here, one file each: every kind's and the tenant policy's, or --kind's",
    )
    crd.add_argument(
        "--policies-dir",
        type=Path,
        help="also write the ValidatingAdmissionPolicies here, one file each: the tenant guardrails and warnings",
    )
    demo = sub.add_parser(
        "demo", help="local control plane + Cloud Control emulator + operator + the examples, until Ctrl-C"
    )
    demo.add_argument("--no-wait", action="store_true", help="stop everything after showing the result")
    demo.add_argument("--latency", type=float, default=2.0, help="seconds each emulated AWS request takes")
    _add_inventory_parsers(sub)
    return parser


def _add_inventory_parsers(sub: Any) -> None:
    """`list`, `get` and `import`: read a kind's resources in a region (see inventory.py)."""

    def aws_flags(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument(
            "--kind", default="smup", help="the kind: smup (user profiles, the default), smspace, or any of its names"
        )
        cmd.add_argument("--region", help="AWS region (default: AWS_REGION)")
        cmd.add_argument("--cluster-name", help="this cluster's name in ownership tags (default: SMUP_CLUSTER_NAME)")

    def cluster_flags(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("--domain-id", help="only the profiles of this SageMaker domain")
        cmd.add_argument("--kubeconfig", help="kubeconfig file (default: KUBECONFIG, ~/.kube/config, in-cluster)")
        cmd.add_argument("--context", help="kubeconfig context (default: the current one)")

    listing = sub.add_parser("list", help="list the region's user profiles (or --kind) and which object manages each")
    aws_flags(listing)
    cluster_flags(listing)
    listing.add_argument("-o", "--output", choices=["table", "json", "yaml"], default="table")

    get = sub.add_parser("get", help="print every property of one user profile (or --kind; camelCase, with its ARN)")
    get.add_argument(
        "identifier",
        metavar="IDENTIFIER",
        help="the resource's Cloud Control identifier (a profile: UserProfileName|DomainId; a space: "
        "DomainId|SpaceName; a lifecycle or app image config: its name; an image or image version: its ARN), "
        "or a profile's or space's name alone with --domain-id",
    )
    aws_flags(get)
    get.add_argument("--domain-id", help="the domain, when the name is given alone")
    get.add_argument("-o", "--output", choices=["yaml", "json"], default="yaml")

    imp = sub.add_parser(
        "import", help="write manifests (adoptionPolicy: Adopt) for unmanaged user profiles (or --kind)"
    )
    aws_flags(imp)
    cluster_flags(imp)
    imp.add_argument("-n", "--namespace", help="metadata.namespace of the manifests (default: none)")
    imp.add_argument("--output-dir", type=Path, help="write one file per profile here (default: stdout)")
    imp.add_argument("--deletion-policy", choices=["Delete", "Retain"], default="Delete")


def _inventory(args: argparse.Namespace) -> int:
    from userprofile_operator import inventory
    from userprofile_operator.models import DeletionPolicy

    try:
        opts = inventory.options(args)
        if args.command == "list":
            return inventory.run_list(opts, args.output, sys.stdout)
        if args.command == "get":
            identifier = inventory.parse_identifier(opts.kind, args.identifier, args.domain_id)
            return inventory.run_get(opts, identifier, args.output, sys.stdout)
        return inventory.run_import(
            opts, args.namespace, args.output_dir, DeletionPolicy(args.deletion_policy), sys.stdout
        )
    except inventory.CliError as err:
        sys.stderr.write(f"error: {err}\n")
        return 1


def _demo(args: argparse.Namespace) -> int:
    """The demo is test machinery (`tests/support/demo.py`, with the local control plane that
    `hack/control-plane.sh` builds), so it runs from a source checkout: the first folder at or above the
    working directory that holds both. The installed package carries none of it."""
    import importlib

    here = Path.cwd().resolve()
    checkout = next(
        (
            folder
            for folder in (here, *here.parents)
            if (folder / "hack" / "control-plane.sh").is_file() and (folder / "tests" / "support").is_dir()
        ),
        None,
    )
    if checkout is None:
        sys.stderr.write(
            f"error: the demo runs from a source checkout (hack/control-plane.sh and tests/support), and {here} "
            "is not in one: clone the repository and run `make demo` there\n"
        )
        return 2
    sys.path.insert(0, str(checkout))
    demo = importlib.import_module("tests.support.demo")
    code: int = demo.run_demo(wait=not args.no_wait, latency=args.latency)
    return code


# The settings `run` also takes as flags: --kinds, --cluster-name, ... (the flag wins over SMUP_<FIELD>).
_SETTING_FLAGS = (
    "kinds",
    "cluster_name",
    "drift_interval",
    "aws_rate",
    "aws_burst",
    "max_concurrent_aws_calls",
    "metrics_port",
    "log_level",
    "log_format",
)


def _settings(args: argparse.Namespace) -> Any:
    from userprofile_operator.settings import Settings

    overrides: dict[str, Any] = {key: getattr(args, key) for key in _SETTING_FLAGS if getattr(args, key) is not None}
    settings = Settings(**overrides)
    region = (
        args.region or settings.default_region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    )
    return settings.model_copy(update={"default_region": region})


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        k8s = getattr(record, "k8s_ref", None)
        if isinstance(k8s, dict):
            entry["object"] = {k: k8s.get(k) for k in ("namespace", "name", "uid") if k8s.get(k)}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class _TextFormatter(logging.Formatter):
    """kopf's object lines name their object: `[namespace/name] Handler 'reconcile' succeeded.`"""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        k8s = getattr(record, "k8s_ref", None)
        if isinstance(k8s, dict) and k8s.get("name"):
            where = "/".join(str(k8s[k]) for k in ("namespace", "name") if k8s.get(k))
            record.message = f"[{where}] {record.message}"
        return super().formatMessage(record)


def _configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(_TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("botocore", "boto3", "urllib3", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _say_warnings_once()


def _say_warnings_once() -> None:
    """Python warnings become log lines (in the log's format), and urllib3's are said once per text.

    urllib3 installs its own filter that shows its security warnings on *every* request ("always"): with
    an insecure kubeconfig (insecure-skip-tls-verify) the Kubernetes client would print
    InsecureRequestWarning, and its source line, at every call. A filter put before it says each once
    (per host: the host is in the text)."""
    import warnings

    from urllib3.exceptions import HTTPWarning

    warnings.filterwarnings("once", category=HTTPWarning)
    warnings.showwarning = _log_warning


def _log_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    logging.getLogger("py.warnings").warning("%s: %s", category.__name__, message)


def _settings_errors(err: Any) -> str:
    """A pydantic ValidationError of the settings as one line per bad setting, naming its flag (when it has
    one) and its environment variable: `error: --kinds / SMUP_KINDS: unknown kind 'x'; known: ...`."""
    lines = []
    for error in err.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        names = [f"--{field.replace('_', '-')}"] if field in _SETTING_FLAGS else []
        names += [f"SMUP_{field.upper()}"] if field else []
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"error: {' / '.join(names)}: {message}\n" if names else f"error: {message}\n")
    return "".join(lines)


def _run(args: argparse.Namespace) -> int:
    import pydantic

    from userprofile_operator import runner

    try:
        settings = _settings(args)
    except pydantic.ValidationError as err:
        sys.stderr.write(_settings_errors(err))
        return 2
    _configure_logging(settings.log_level, settings.log_format)
    options = runner.Options(
        namespaces=tuple(args.namespace or ()),
        liveness=args.liveness,
        leader_elect=args.leader_elect,
        lease_namespace=args.leader_election_namespace,
        lease_name=args.leader_election_id,
    )
    return runner.run(settings, options)


def _crd(args: argparse.Namespace) -> int:
    from userprofile_operator import admission
    from userprofile_operator.crd import crd_file_name, render_crd_yaml
    from userprofile_operator.kinds import all_kinds, by_name

    tenant_names = {admission.TENANT_POLICY_KIND.lower(), admission.TENANT_POLICY_PLURAL, "smtp"}
    tenant_policy = bool(args.kind) and args.kind.lower() in tenant_names
    try:
        chosen = [by_name(args.kind)] if args.kind and not tenant_policy else None
    except KeyError as err:
        print(f"error: {err.args[0]}; or smtp, the tenant policy", file=sys.stderr)
        return 2
    files: dict[Path, str] = {}
    if args.output_dir is not None:
        for kind in chosen or ([] if tenant_policy else all_kinds()):
            files[args.output_dir / crd_file_name(kind)] = render_crd_yaml(kind)
        if chosen is None:
            files[args.output_dir / admission.tenant_policy_crd_file_name()] = admission.render_tenant_policy_crd_yaml()
    if args.policies_dir is not None:
        for name, text in admission.policy_files(chosen).items():
            files[args.policies_dir / name] = text
    if not files:
        if tenant_policy:
            sys.stdout.write(admission.render_tenant_policy_crd_yaml())
        else:
            sys.stdout.write(render_crd_yaml(chosen[0] if chosen else by_name("smup")))
        return 0
    try:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError as err:
        print(f"error: cannot write {err.filename or ''}: {err.strerror or err}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "run":
        return _run(args)
    if args.command == "crd":
        return _crd(args)
    if args.command in ("list", "get", "import"):
        return _inventory(args)
    if args.command == "demo":
        return _demo(args)
    parser.error(f"unknown command {args.command}")
    return 2  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
