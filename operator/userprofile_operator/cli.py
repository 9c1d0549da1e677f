"""The `userprofile-operator` command line: one subcommand per job, each a thin wrapper."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from userprofile_operator import __version__


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="userprofile-operator",
        description="Manage Amazon SageMaker Studio user profiles as Kubernetes resources.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("crd", help="print the CustomResourceDefinition generated from the CloudFormation schema")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "crd":
        from userprofile_operator.crd import render_crd_yaml

        sys.stdout.write(render_crd_yaml())
        return 0
    parser.error(f"unknown command {args.command}")
    return 2  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
