"""``sealroom retention run`` and ``sealroom hold …``: host-operator retention and legal holds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from sealroom.cli.common import (
    WorkspaceOption,
    console,
    handle_errors,
    open_workspace,
    operator,
    terminal_safe,
)
from sealroom.errors import InputError

retention_app = typer.Typer(
    help="Retention: crypto-shred images past their data set's retention_days.", no_args_is_help=True
)
hold_app = typer.Typer(
    help="Legal holds: keep a case or an image from retention until released.", no_args_is_help=True
)


@retention_app.command("run")
@handle_errors
def retention_run(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only report what would be deleted; change nothing.")
    ] = False,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Delete (crypto-shred) every image past retention that is not on legal hold."""
    opened = open_workspace(workspace)
    try:
        report = opened.retention.run(operator(), dry_run=dry_run)
    finally:
        opened.close()
    if dry_run:
        console.print("[bold]Dry run[/]: nothing was changed.")
        console.print(
            f"due: {len(report.due)}  would delete: {len(report.to_delete)}  held: {len(report.held)}  "
            f"orphaned keys: {report.orphan_keys_removed}",
            highlight=False,
        )
        for image_id in report.to_delete:
            console.print(f"  would delete {image_id}", highlight=False)
    else:
        console.print(
            f"due: {len(report.due)}  deleted: {len(report.deleted)}  held: {len(report.held)}  "
            f"failed: {len(report.failed)}  orphaned keys removed: {report.orphan_keys_removed}",
            highlight=False,
        )
        for image_id in report.deleted:
            console.print(f"  [green]deleted[/] {image_id}", highlight=False)
    if report.unmatched_keys:
        console.print(
            f"[yellow]warning:[/] {len(report.unmatched_keys)} data key(s) belong to images missing from the "
            "database and were kept (was the database restored from an older backup?); see the "
            "retention.unmatched_keys audit record",
            highlight=False,
        )
    for image_id in report.held:
        console.print(f"  [yellow]held[/] {image_id}", highlight=False)
    for image_id in report.failed:
        console.print(f"  [red]failed[/] {image_id} (the next run retries)", highlight=False)
    if report.failed:
        raise typer.Exit(1)


@hold_app.command("add")
@handle_errors
def hold_add(
    reason: Annotated[str, typer.Option(help="Why: the matter or instruction (recorded).")],
    case: Annotated[str | None, typer.Option("--case", help="Hold every image of this case.")] = None,
    image: Annotated[str | None, typer.Option("--image", help="Hold this one image (its id).")] = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Put a case (--case) or one image (--image) on legal hold."""
    if (case is None) == (image is None):
        raise InputError("give exactly one of --case or --image")
    opened = open_workspace(workspace)
    try:
        hold = opened.retention.place_hold(operator(), case_id=case, image_id=image, reason=reason)
        covered = opened.retention.images_covered(hold)
    finally:
        opened.close()
    target = f"case {hold.case_id}" if hold.case_id else f"image {hold.image_id}"
    console.print(Text.assemble(("On hold", "green"), f" {terminal_safe(target)}"))
    console.print(f"hold id: {hold.id}; images covered now: {covered}", highlight=False)
    if covered == 0:
        console.print(
            "[yellow]warning:[/] no stored image is in this case yet: check the case id (the hold also "
            "covers images filed into the case later)",
            highlight=False,
        )


@hold_app.command("list")
@handle_errors
def hold_list(
    all_: Annotated[bool, typer.Option("--all", help="Include released holds.")] = False,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """List legal holds (active ones, or all)."""
    opened = open_workspace(workspace)
    try:
        holds = opened.retention.list_holds(active_only=not all_)
    finally:
        opened.close()
    table = Table("target", "reason", "placed (UTC)", "by", "state")
    table.add_column("hold id", no_wrap=True, min_width=32)
    for hold in holds:
        target = f"case {hold.case_id}" if hold.case_id else f"image {hold.image_id}"
        state = f"released {hold.released_at:%Y-%m-%d %H:%M}" if hold.released_at else "active"
        table.add_row(
            Text(terminal_safe(target)),
            Text(terminal_safe(hold.reason)),
            f"{hold.placed_at:%Y-%m-%d %H:%M}",
            Text(terminal_safe(hold.placed_by)),
            state,
            hold.id,
        )
    console.print(table)


@hold_app.command("release")
@handle_errors
def hold_release(hold_id: str, workspace: WorkspaceOption = Path(".")) -> None:
    """Release a legal hold: what it covered falls under retention again at the next run."""
    opened = open_workspace(workspace)
    try:
        hold = opened.retention.release_hold(operator(), hold_id)
    finally:
        opened.close()
    console.print(f"[green]Released[/] legal hold {hold.id}", highlight=False)
