"""The ``dms-prereq-roles`` command line: options, subcommands and exit statuses.

Exit status 0: all is well; 1: a problem was found (each one printed);
2: a usage or AWS error, printed as one line on stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, TextIO

from dms_prereq.errors import InvalidSetting
from dms_prereq.settings import UNCLAIMED_ROLE_RETENTION, parse_retention

from . import __version__, deployment
from .policies import check_policies
from .prune import prune
from .report import Progress, Report, render_json, render_table
from .session import AWS_ERRORS, Aws, CliError, describe
from .status import status

PROG = "dms-prereq-roles"
OK, PROBLEM, ERROR = 0, 1, 2


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit status 2), not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(ERROR, f"{PROG}: error: {message} (see {PROG} --help)\n")


def _add_common(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """The options every subcommand takes, before or after its name.

    On the subcommands they default to SUPPRESS, so that leaving them out
    there keeps what was given before the subcommand.
    """

    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument("--profile", default=default(None), help="AWS profile to use")
    parser.add_argument("--region", default=default(None), help="AWS region (picks the partition)")
    parser.add_argument(
        "--endpoint-url", default=default(None), help="send AWS calls here (e.g. moto_server)"
    )
    parser.add_argument(
        "--output",
        choices=("table", "json"),
        default=default("table"),
        help="tables for people (default) or JSON for scripts",
    )
    parser.add_argument(
        "--quiet", action="store_true", default=default(False), help="no progress on stderr"
    )


def retention(text: str) -> int | None:
    """``--retention``: minutes or Never, as the UnclaimedRoleRetentionMinutes parameter takes."""
    try:
        return parse_retention(text.strip())
    except InvalidSetting as invalid:
        raise argparse.ArgumentTypeError(invalid.reason) from invalid


def _add_sweep_options(parser: argparse.ArgumentParser) -> None:
    """How ``status`` and ``prune`` find the deployment whose sweep they run."""
    parser.add_argument(
        "--function",
        metavar="NAME|ARN",
        help="the deployed function whose settings the sweep uses (default: the Function "
        "of the --stack stack)",
    )
    parser.add_argument(
        "--stack",
        default=deployment.DEFAULT_STACK,
        help=f"the deployment's stack in --region (default: {deployment.DEFAULT_STACK})",
    )
    parser.add_argument(
        "--retention",
        type=retention,
        metavar="MINUTES|Never",
        default=argparse.SUPPRESS,
        help=f"override {UNCLAIMED_ROLE_RETENTION.parameter}: 0 (next sweep after the mark), "
        "at least 240, or Never",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=PROG,
        description="Inspect and tidy the IAM roles AWS DMS needs, as shared by "
        "Custom::DmsPrerequisiteRoles.",
        epilog="Exit status: 0 all is well, 1 a problem was found, 2 a usage or AWS error.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_common(parser, defaults=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in (
        (
            "status",
            "per role: origin, trust, managed policy, last use; its claims and their stacks; "
            "what DMS has that uses it; what the sweep would do, and when it may delete it",
        ),
        ("check-policies", "AWS managed policy versions, and roles whose own policies lag"),
        (
            "prune",
            "run the function's sweep once from here: a dry run that changes nothing, "
            "unless --apply",
        ),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        _add_common(sub, defaults=False)
        if name in ("status", "prune"):
            _add_sweep_options(sub)
        if name == "prune":
            sub.add_argument(
                "--apply",
                action="store_true",
                help="let the sweep write: release stale claims, mark, untag, re-attach, delete",
            )
    return parser


def _deployment(args: argparse.Namespace, aws: Aws) -> deployment.Deployment:
    found = deployment.find(aws, function=args.function, stack=args.stack, environ=os.environ)
    if "retention" in args:
        found = found.with_retention(args.retention)
    return found


def _report(args: argparse.Namespace, aws: Aws, progress: Progress) -> Report:
    commands: dict[str, Callable[[], Report]] = {
        "status": lambda: status(aws, _deployment(args, aws), progress),
        "check-policies": lambda: check_policies(aws.iam(), aws.partition, progress),
        "prune": lambda: prune(aws, _deployment(args, aws), progress, apply_changes=args.apply),
    }
    return commands[args.command]()


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run one command; returns the exit status."""
    out, err = out or sys.stdout, err or sys.stderr
    args = build_parser().parse_args(argv)
    progress = Progress(quiet=args.quiet, err=err)
    # The sweep's code logs what it could not read; the report says it too, so its
    # records stay out of the terminal (Python would print warnings on stderr).
    logging.getLogger("dms_prereq").addHandler(logging.NullHandler())
    try:
        aws = Aws.connect(args.profile, args.region, args.endpoint_url)
        report = _report(args, aws, progress)
    except CliError as error:
        err.write(f"{PROG}: error: {error}\n")
        return ERROR
    except AWS_ERRORS as error:
        err.write(f"{PROG}: error: {describe(error)}\n")
        return ERROR
    (render_json if args.output == "json" else render_table)(report, out)
    return PROBLEM if report.problems else OK


def run() -> NoReturn:
    """Console-script entry point."""
    sys.exit(main())
