"""The ``policyqa`` command: a dispatcher over the sub-commands each package registers.

Packages register through the ``policyqa.commands`` entry-point group (see pyproject.toml): each
entry point is a ``register(subparsers)`` function that adds parsers whose ``func(args) -> int`` runs
the command. Expected failures (``PolicyQAError``) become a one-line message and exit code 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
from importlib.metadata import entry_points

from policyqa.errors import PolicyQAError
from policyqa.logs import configure_logging


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every registered sub-command."""
    parser = argparse.ArgumentParser(prog="policyqa", description="政策文件条款级检索与问答 (policyqa)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-v, -vv)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for entry in sorted(entry_points(group="policyqa.commands"), key=lambda e: e.name):
        entry.load()(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except PolicyQAError as error:
        print(f"policyqa: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        logging.getLogger(__name__).warning("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
