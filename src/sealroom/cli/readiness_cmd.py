"""``sealroom readiness`` and ``sealroom signoff``: the deployment review.

``readiness`` (host operator) exits 0 when every check passes, 1 with warnings only, 2 with any failure
(errors that stop the evaluation use their own codes, 3 and up), so automation can gate on it.
``signoff --user NAME`` records the sign-off of the configuration as it is now by that compliance
reviewer, who signs in (password and TOTP) and must hold ``audit:read`` without ``workspace:admin``, as
over the API; ``signoff --show`` (host operator) prints the latest one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.padding import Padding
from rich.text import Text

from sealroom.cli.common import (
    WorkspaceOption,
    console,
    handle_errors,
    open_workspace,
    operator,
    print_json,
    print_plain,
    signed_in,
)
from sealroom.errors import InputError
from sealroom.readiness import config_sha256, evaluate, latest_signoff, record_signoff
from sealroom.readiness.access import require_signer
from sealroom.readiness.report import ReadinessReport
from sealroom.readiness.signoff import MAX_NOTES_CHARS, SignoffView
from sealroom.statements import clean_statement
from sealroom.workspace import Workspace

STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red"}
INDENT = 8
"""Where a check's "found:" and "remedy:" lines start (they wrap there, never cut short)."""


@handle_errors
def readiness(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Check the deployment against the review questions; exit 0 pass, 1 warnings, 2 failures."""
    opened = open_workspace(workspace)
    try:
        report = evaluate(opened, actor=operator())
    finally:
        opened.close()
    if as_json:
        print_json(report.to_dict())
    else:
        _print(report)
    raise typer.Exit(report.exit_code)


def _print(report: ReadinessReport) -> None:
    # One block per check rather than a table: a table squeezes what was found and the remedy (the
    # point of the report) into narrow columns; wrapped lines keep every word at any terminal width.
    for item in report.items:
        console.print(
            Text.assemble((f"{item.id}. {item.title}  ", "bold"), (item.status.upper(), STYLE[item.status]))
        )
        for check in item.checks:
            head = Text.assemble(
                (f"{check.status.upper():<4}", STYLE[check.status]), f"  {check.id}  {check.title}"
            )
            console.print(Padding(head, (0, 0, 0, 2), expand=False))
            console.print(Padding(Text(f"found: {check.detail}"), (0, 0, 0, INDENT), expand=False))
            if check.remedy:
                console.print(Padding(Text(f"remedy: {check.remedy}"), (0, 0, 0, INDENT), expand=False))
        console.print()
    counts = report.counts()
    console.print(
        Text.assemble(
            ("Overall: ", "bold"),
            (report.status.upper(), STYLE[report.status]),
            f"  ({counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail; configuration "
            f"{report.config_sha256[:12]}…)",
        )
    )


@handle_errors
def signoff(
    user: Annotated[
        str | None,
        typer.Option(
            "--user",
            "-u",
            help="The compliance reviewer signing off, who signs in (password and TOTP code are asked "
            "for, or read from SEALROOM_PASSWORD / SEALROOM_TOTP); needs audit:read and no "
            "workspace:admin.",
        ),
    ] = None,
    notes: Annotated[str | None, typer.Option(help="What was reviewed, and any accepted risks.")] = None,
    show: Annotated[
        bool, typer.Option("--show", help="Show the latest sign-off instead (host operator).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
    reviewer: Annotated[str | None, typer.Option("--reviewer", hidden=True)] = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Sign off the current configuration as the signed-in reviewer (any later change makes it stale)."""
    if reviewer is not None:
        raise InputError(
            "--reviewer is gone: the reviewer signs in instead: "
            'sealroom signoff --user NAME --notes "what was reviewed"'
        )
    if not show:
        if not user or notes is None:
            raise InputError('give --user NAME (the reviewer, who signs in) and --notes "TEXT" (or --show)')
        # Checked before signing in, so a bad note does not use up the reviewer's TOTP code.
        clean_statement(notes, what="sign-off notes", maximum=MAX_NOTES_CHARS)
    opened = open_workspace(workspace)
    try:
        if show:
            with opened.db() as db:
                row = latest_signoff(db)
                view = None if row is None else SignoffView.of(row, config_sha256(opened.settings))
        else:
            assert user is not None and notes is not None
            view = _sign(opened, user, notes)
    finally:
        opened.close()
    if as_json:
        print_json(None if view is None else view.to_dict())
        return
    if view is None:
        console.print("No compliance sign-off is recorded.")
        return
    state = "[green]current[/]" if view.current else "[red]stale: the configuration changed since[/]"
    verb = "Latest sign-off" if show else "[green]Signed off[/]"
    console.print(f"{verb}: {view.signed_at} ({state})")
    console.print(Text(f"reviewer: {view.reviewer}\nnotes: {view.notes}\nrecorded by: {view.recorded_by}"))
    print_plain(f"configuration sha256: {view.config_sha256}")


def _sign(opened: Workspace, user: str, notes: str) -> SignoffView:
    """Sign ``user`` in, check they may sign (recorded either way), evaluate, record the sign-off."""
    with signed_in(opened, user) as active:
        require_signer(opened, active)  # the allow (or the refusal) is on record before anything is done
        report = evaluate(opened, actor=active.username, session_id=active.id)
        return record_signoff(
            opened.db, opened.audit, opened.clock, opened.settings,
            reviewer=active.username, notes=notes, actor=active.username,
            readiness_status=report.status, session_id=active.id,
        )  # fmt: skip
