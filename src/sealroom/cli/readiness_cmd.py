"""``sealroom readiness`` and ``sealroom signoff``: the deployment review, run by the host operator.

``readiness`` exits 0 when every check passes, 1 with warnings only, 2 with any failure (errors that stop
the evaluation use their own codes, 3 and up), so automation can gate on it. ``signoff`` records a
compliance reviewer's sign-off of the configuration as it is now (audited as ``operator:<os user>``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from sealroom.cli.common import WorkspaceOption, console, handle_errors, open_workspace, operator
from sealroom.errors import InputError
from sealroom.readiness import config_sha256, evaluate, latest_signoff, record_signoff
from sealroom.readiness.report import ReadinessReport
from sealroom.readiness.signoff import SignoffView

STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red"}


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
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _print(report)
    raise typer.Exit(report.exit_code)


def _print(report: ReadinessReport) -> None:
    table = Table(show_lines=True)
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("what was found")
    table.add_column("remedy")
    for item in report.items:
        table.add_row(
            Text(f"{item.id}. {item.title}", style="bold"),
            Text(item.status.upper(), style=STYLE[item.status]),
        )
        for check in item.checks:
            table.add_row(
                Text(f"  {check.id}"),
                Text(check.status.upper(), style=STYLE[check.status]),
                Text(check.detail),
                Text(check.remedy or ""),
            )
    console.print(table)
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
    reviewer: Annotated[
        str | None, typer.Option(help="Name of the compliance reviewer signing off.")
    ] = None,
    notes: Annotated[str | None, typer.Option(help="What was reviewed, and any accepted risks.")] = None,
    show: Annotated[bool, typer.Option("--show", help="Show the latest sign-off instead.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Record a compliance sign-off of the current configuration (any later change makes it stale)."""
    opened = open_workspace(workspace)
    try:
        if show:
            with opened.db() as db:
                row = latest_signoff(db)
                view = None if row is None else SignoffView.of(row, config_sha256(opened.settings))
        else:
            if not reviewer or notes is None:
                raise InputError('give --reviewer "NAME" and --notes "TEXT" (or --show)')
            report = evaluate(opened, actor=operator())
            view = record_signoff(
                opened.db, opened.audit, opened.clock, opened.settings,
                reviewer=reviewer, notes=notes, actor=operator(), readiness_status=report.status,
            )  # fmt: skip
    finally:
        opened.close()
    if as_json:
        typer.echo(json.dumps(None if view is None else view.to_dict(), indent=2))
        return
    if view is None:
        console.print("No compliance sign-off is recorded.")
        return
    state = "[green]current[/]" if view.current else "[red]stale: the configuration changed since[/]"
    verb = "Latest sign-off" if show else "[green]Signed off[/]"
    console.print(f"{verb}: {view.signed_at} ({state})")
    console.print(Text(f"reviewer: {view.reviewer}\nnotes: {view.notes}\nrecorded by: {view.recorded_by}"))
    console.print(f"configuration sha256: {view.config_sha256}", highlight=False)
