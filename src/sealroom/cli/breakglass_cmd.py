"""``sealroom break-glass take | queue | review``: emergency access and its review queue."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from sealroom.cli.common import (
    UserOption,
    WorkspaceOption,
    console,
    err_console,
    handle_errors,
    open_workspace,
    signed_in,
    terminal_safe,
)

breakglass_app = typer.Typer(
    help="Emergency access to a case (alerted, reviewed), and the review queue.", no_args_is_help=True
)

ALERT_MESSAGES = {
    "delivered": "[green]The alert went out[/] to the configured receivers.",
    "failed": "[bold red]The alert could not be delivered[/] (see `sealroom audit`); "
    "access is granted anyway and the failure is on record.",
    "not_configured": "[yellow]No alert receiver is configured[/]: the use is only in the audit log "
    "and the review queue.",
    "pending": "[yellow]The alert is still being delivered[/]; its outcome will be in the review queue.",
}


@breakglass_app.command("take")
@handle_errors
def take(
    user: UserOption,
    case: Annotated[str, typer.Option(help="The case id to open in the emergency.")],
    dataset: Annotated[str, typer.Option(help="The data set (it must allow break-glass).")],
    justification: Annotated[
        str, typer.Option(help="What the emergency is (20-2000 characters; reviewers read it).")
    ],
    minutes: Annotated[
        int | None, typer.Option(help="How long (default and maximum: the data set's limit).")
    ] = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Take emergency access to a case now. An alert goes out and the use waits for review."""
    opened = open_workspace(workspace)
    with signed_in(opened, user) as active:
        record = opened.breakglass.take(
            active, case_id=case, dataset=dataset, justification=justification, minutes=minutes
        )
    console.print(
        Text.assemble(
            ("Emergency access granted ", "bold green"),
            f"to case {terminal_safe(record.case_id)} until {record.expires_at.isoformat()} (id {record.id})",
        )
    )
    with err_console.status("Sending the alert…"):
        opened.alerts.flush(opened.alerts.max_delivery_seconds)
    console.print(ALERT_MESSAGES.get(record.alert_status, record.alert_status), highlight=False)
    opened.close()


@breakglass_app.command("queue")
@handle_errors
def queue(
    user: UserOption,
    show_all: Annotated[bool, typer.Option("--all", help="Include reviewed uses.")] = False,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """List break-glass uses waiting for review (needs breakglass:review)."""
    opened = open_workspace(workspace)
    with signed_in(opened, user) as active:
        items = opened.breakglass.queue(active, status="all" if show_all else "open")
    if not items:
        console.print("No break-glass uses to review." if not show_all else "No break-glass uses.")
        return
    table = Table("started (UTC)", "user", "dataset", "case", "alert", "review", "justification")
    table.add_column("id", no_wrap=True, min_width=32)
    for item in items:
        review = item["review_outcome"] or ("[bold]open[/]" if item["active"] else "open (ended)")
        table.add_row(
            item["started_at"][:16],
            Text(item["user"]),
            Text(item["dataset"]),
            Text(terminal_safe(item["case_id"])),
            item["alert_status"],
            review,
            Text(terminal_safe(item["justification"])),
            item["id"],
        )
    console.print(table)


@breakglass_app.command("review")
@handle_errors
def review(
    break_glass_id: Annotated[str, typer.Argument(help="The id from `sealroom break-glass queue`.")],
    user: UserOption,
    outcome: Annotated[str, typer.Option(help="justified or unjustified.")],
    note: Annotated[str, typer.Option(help="What you found (kept for the record).")],
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Close a break-glass use as justified or unjustified (not your own)."""
    opened = open_workspace(workspace)
    with signed_in(opened, user) as active:
        record = opened.breakglass.review(active, break_glass_id, outcome=outcome, note=note)
    console.print(f"[green]Reviewed[/] {record.id}: {record.review_outcome}", highlight=False)
