"""``sealroom request …``: ask for access, decide others' requests, read the history."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from sealroom.cli.common import (
    UserOption,
    WorkspaceOption,
    console,
    handle_errors,
    open_workspace,
    signed_in,
    terminal_safe,
)
from sealroom.errors import InputError

request_app = typer.Typer(
    help="Access requests: submit, list, show, approve, deny, cancel.", no_args_is_help=True
)

REASON_PREVIEW = 80
RequestIdArg = Annotated[str, typer.Argument(help="The request id (32 hex characters).")]


def _target(view: dict[str, Any]) -> str:
    """What a request is about, in a few words."""
    if view["kind"] == "case":
        return f"case {view['case_id']} ({view['dataset']})"
    if view["kind"] == "dataset":
        return f"role {view['role']} on {view['dataset']}"
    if view["kind"] == "role":
        return f"role {view['role']}"
    image = (view["image_id"] or "?")[:12]
    return (
        f"export {view['export_format'] or '?'} {view['export_variant'] or '?'} of {image} "
        f"(case {view['case_id'] or '?'})"
    )


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _print_request(view: dict[str, Any]) -> None:
    """One request and its reviews, untrusted text shown as plain text."""
    console.print(Text.assemble(("Request ", "bold"), view["id"]))
    rows = [
        ("kind", view["kind"]),
        ("for", _target(view)),
        ("requester", view["requester"]),
        ("status", view["status"]),
        ("approvals", f"{view['approvals']} of {view['approvals_required']}"),
        ("duration", f"{view['duration_minutes']} minutes"),
        ("submitted", view["created_at"]),
        ("undecided until", view["expires_at"]),
        ("decided", view["decided_at"] or "-"),
        ("access until", view["access_expires_at"] or "-"),
        ("first used", view["used_at"] or "-"),
    ]
    for label, value in rows:
        console.print(Text.assemble((f"  {label}: ", "bold"), terminal_safe(str(value))))
    console.print(Text.assemble(("  reason: ", "bold"), terminal_safe(view["reason"])))
    for review in view["reviews"]:
        line = f"  {review['decided_at'][:16]} {review['reviewer']} {review['decision']}"
        note = f": {review['note']}" if review["note"] else ""
        console.print(Text(terminal_safe(line + note)))


def _minutes(hours: float | None, minutes: int | None) -> int:
    if (hours is None) == (minutes is None):
        raise InputError("give the duration with --hours or --minutes (exactly one)")
    if minutes is not None:
        return minutes
    assert hours is not None
    return round(hours * 60)


@request_app.command("submit")
@handle_errors
def submit(
    user: UserOption,
    kind: Annotated[str, typer.Option(help="case, dataset or role.")],
    reason: Annotated[str, typer.Option(help="Why you need this access (shown to approvers).")],
    case: Annotated[str | None, typer.Option(help="case: the case id.")] = None,
    dataset: Annotated[str | None, typer.Option(help="case or dataset: the data set.")] = None,
    role: Annotated[str | None, typer.Option(help="dataset or role: the role.")] = None,
    hours: Annotated[float | None, typer.Option(help="How long the access should last, in hours.")] = None,
    minutes: Annotated[int | None, typer.Option(help="…or in minutes.")] = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Ask for access to a case, to a role on one data set, or to a role."""
    duration = _minutes(hours, minutes)
    opened = open_workspace(workspace)
    with signed_in(opened, user) as active:
        req = opened.requests.submit(
            active, kind, reason=reason, duration_minutes=duration, case_id=case, dataset=dataset, role=role
        )
    console.print(f"[green]Submitted[/] request {req.id}", highlight=False)
    console.print(
        f"It needs {req.approvals_required} approval(s) by {req.expires_at.isoformat()[:16]} UTC; "
        f"see it with: sealroom request show {req.id} --user {terminal_safe(user)}",
        highlight=False,
        markup=False,
    )


@request_app.command("list")
@handle_errors
def list_requests(
    user: UserOption,
    review: Annotated[bool, typer.Option("--review", help="Requests waiting for your decision.")] = False,
    show_all: Annotated[bool, typer.Option("--all", help="Every request (needs audit:read).")] = False,
    status: Annotated[
        str | None, typer.Option(help="pending, approved, denied, cancelled, expired or delivered.")
    ] = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """List your requests (or, with --review, those you may decide; --all for auditors)."""
    if review and show_all:
        raise typer.BadParameter("use --review or --all, not both")
    view = "review" if review else "all" if show_all else "mine"
    opened = open_workspace(workspace)
    with signed_in(opened, user) as active:
        found = opened.requests.list(active, view=view, status=status)
    table = Table("submitted (UTC)", "kind", "requester", "for", "status", "approvals")
    if view == "review":
        table.add_column("reason")  # what an approver decides on (in full: request show)
    table.add_column("request id", no_wrap=True, min_width=32)
    for item in found:
        reason = [Text(terminal_safe(_shorten(item["reason"], REASON_PREVIEW)))] if view == "review" else []
        table.add_row(
            item["created_at"][:16],
            item["kind"],
            item["requester"],
            Text(terminal_safe(_target(item))),
            item["status"],
            f"{item['approvals']}/{item['approvals_required']}",
            *reason,
            item["id"],
        )
    console.print(table)
    console.print(f"{len(found)} request(s)")


@request_app.command("show")
@handle_errors
def show(request_id: RequestIdArg, user: UserOption, workspace: WorkspaceOption = Path(".")) -> None:
    """Show one request with its reviews."""
    opened = open_workspace(workspace)
    with signed_in(opened, user) as active:
        view = opened.requests.get(active, request_id)
    _print_request(view)


@request_app.command("approve")
@handle_errors
def approve(
    request_id: RequestIdArg,
    user: UserOption,
    note: Annotated[str, typer.Option(help="Optional note for the record.")] = "",
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Approve a request you may decide (never your own)."""
    opened = open_workspace(workspace)
    with signed_in(opened, user) as active:
        req = opened.requests.approve(active, request_id, note)
    if req.status == "approved":
        until = req.access_expires_at.isoformat()[:16] if req.access_expires_at else "-"
        console.print(f"[green]Approved[/] request {req.id}: access until {until} UTC", highlight=False)
    else:
        console.print(
            f"[green]Approval recorded[/] for request {req.id}; it still needs another approver",
            highlight=False,
        )


@request_app.command("deny")
@handle_errors
def deny(
    request_id: RequestIdArg,
    user: UserOption,
    note: Annotated[str, typer.Option(help="Why (required; the requester sees it).")],
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Deny a request you may decide."""
    opened = open_workspace(workspace)
    with signed_in(opened, user) as active:
        req = opened.requests.deny(active, request_id, note)
    console.print(f"[yellow]Denied[/] request {req.id}", highlight=False)


@request_app.command("cancel")
@handle_errors
def cancel(request_id: RequestIdArg, user: UserOption, workspace: WorkspaceOption = Path(".")) -> None:
    """Withdraw your own pending request."""
    opened = open_workspace(workspace)
    with signed_in(opened, user) as active:
        req = opened.requests.cancel(active, request_id)
    console.print(f"Cancelled request {req.id}", highlight=False)
