"""``sealroom audit verify|show|export``: check, search and export the tamper-evident log."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from sealroom.audit.export import export_jsonl, verify_jsonl
from sealroom.audit.query import AuditQuery, search
from sealroom.audit.verify import verify_chain
from sealroom.cli.common import WorkspaceOption, console, err_console, handle_errors, open_workspace, operator
from sealroom.errors import InputError

audit_app = typer.Typer(help="Verify, search and export the audit log.", no_args_is_help=True)


def parse_when(text: str | None) -> datetime | None:
    """An ISO date or date-time (UTC when no offset is given)."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InputError(
            f"{text!r} is not an ISO date or date-time (e.g. 2026-03-02 or 2026-03-02T09:00)"
        ) from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _log_read(opened_root: Path, action: str, details: dict[str, object]) -> None:
    opened = open_workspace(opened_root)
    opened.audit.append(
        opened.db, category="audit", action=action, outcome="success", actor=operator(), details=details
    )


@audit_app.command("verify")
@handle_errors
def verify(
    file: Annotated[
        Path | None, typer.Option(help="Verify an exported JSON Lines file instead of the database.")
    ] = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Check every record's seal and link; name the first bad record. Exit 0 only when intact."""
    opened = open_workspace(workspace)
    if file is not None:
        raw = file.read_bytes()
        try:
            lines = raw.decode("utf-8").splitlines()
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            err_console.print(
                f"[bold red]FAILED[/]: line {line} of {file.name} is not UTF-8 text", highlight=False
            )
            raise typer.Exit(2) from None
        report = verify_jsonl(lines, opened.keys.audit_key)
    else:
        with opened.db() as db:
            report = verify_chain(db, opened.keys.audit_key)
        _log_read(workspace, "audit.verify", {"ok": report.ok, "checked": report.checked})
    if report.ok:
        console.print(f"[green]OK[/]: {report.checked} records verified; chain head seq {report.last_seq}")
        if report.last_mac:
            console.print(f"head seal: {report.last_mac}", highlight=False)
        return
    err_console.print(f"[bold red]FAILED[/]: {escape(report.problem or '')}", highlight=False)
    raise typer.Exit(2)


def _query(
    user: str | None,
    image: str | None,
    case: str | None,
    action: str | None,
    outcome: str | None,
    since: str | None,
    until: str | None,
    limit: int | None,
) -> AuditQuery:
    family = action is not None and action.endswith(".")
    return AuditQuery(
        actor=user,
        image_id=image,
        case_id=case,
        outcome=outcome,
        action=None if family else action,
        action_prefix=action if family else None,
        since=parse_when(since),
        until=parse_when(until),
        limit=limit,
    )


UserFilter = Annotated[str | None, typer.Option("--user", help="Actor (username).")]
ImageFilter = Annotated[str | None, typer.Option("--image", help="Image id.")]
CaseFilter = Annotated[str | None, typer.Option("--case", help="Case id.")]
ActionFilter = Annotated[
    str | None, typer.Option("--action", help="Action, or a family ending in '.' (image.).")
]
OutcomeFilter = Annotated[str | None, typer.Option("--outcome", help="success, failure, allow or deny.")]
SinceFilter = Annotated[str | None, typer.Option("--since", help="From this ISO time (inclusive, UTC).")]
UntilFilter = Annotated[str | None, typer.Option("--until", help="Before this ISO time (UTC).")]


@audit_app.command("show")
@handle_errors
def show(
    user: UserFilter = None,
    image: ImageFilter = None,
    case: CaseFilter = None,
    action: ActionFilter = None,
    outcome: OutcomeFilter = None,
    since: SinceFilter = None,
    until: UntilFilter = None,
    limit: Annotated[int, typer.Option(help="At most this many records (newest).", min=1)] = 50,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Show audit records matching the filters, newest last."""
    query = _query(user, image, case, action, outcome, since, until, limit)
    opened = open_workspace(workspace)
    with opened.db() as db:
        rows = list(reversed(search(db, AuditQuery(**{**query.__dict__, "newest_first": True}))))
    _log_read(workspace, "audit.search", {"returned": len(rows)})
    table = Table("seq", "time (UTC)", "actor", "action", "outcome", "reason")
    table.add_column("image", no_wrap=True, min_width=32)
    table.add_column("case")
    for row in rows:
        cells = (
            str(row["seq"]),
            row["ts"][:19],
            row["actor"],
            row["action"],
            row["outcome"],
            row["reason"] or "",
            row["image_id"] or "",
            row["case_id"] or "",
        )
        # Text, not markup: record values are user-influenced and must print as they are.
        table.add_row(*(Text(cell) for cell in cells))
    console.print(table)


@audit_app.command("export")
@handle_errors
def export(
    jsonl: Annotated[bool, typer.Option("--jsonl", help="JSON Lines, one sealed record per line.")] = True,
    out: Annotated[Path | None, typer.Option(help="Write to this file (default: standard output).")] = None,
    user: UserFilter = None,
    image: ImageFilter = None,
    case: CaseFilter = None,
    action: ActionFilter = None,
    outcome: OutcomeFilter = None,
    since: SinceFilter = None,
    until: UntilFilter = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Export sealed records (with their MACs) for evidence; verify with ``audit verify --file``."""
    if not jsonl:
        raise InputError("only --jsonl is supported")
    query = _query(user, image, case, action, outcome, since, until, None)
    opened = open_workspace(workspace)
    with opened.db() as db:
        if out is None:
            count = export_jsonl(db, query, sys.stdout)
        else:
            with out.open("x", encoding="utf-8") as handle:
                count = export_jsonl(db, query, handle)
    _log_read(workspace, "audit.export", {"records": count})
    if out is not None:
        console.print(f"exported {count} records to {out}")
