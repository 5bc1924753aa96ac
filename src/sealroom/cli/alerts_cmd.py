"""``sealroom alerts run|status``: the watch pass of ``serve`` once (for cron), and what it last found."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from sealroom.alerting.monitor import Monitor
from sealroom.alerting.status import last_anchor, last_verify, watch_problems
from sealroom.cli.common import (
    WorkspaceOption,
    console,
    err_console,
    handle_errors,
    open_workspace,
    print_json,
)

alerts_app = typer.Typer(
    help="Alert rules and the audit watch (anchors, verification).", no_args_is_help=True
)


@alerts_app.command("run")
@handle_errors
def run(workspace: WorkspaceOption = Path(".")) -> None:
    """Run the watch once, as `serve` does every 30 s: sign an anchor and verify the chain when they
    are due, and evaluate the alert rules over new audit records. Exit 2 if the verification failed."""
    opened = open_workspace(workspace)
    monitor = Monitor.of(opened)
    try:
        anchored = monitor.anchor_if_due()
        verified = monitor.verify_if_due()
        raised = monitor.run_rules()
        opened.alerts.flush(opened.alerts.max_delivery_seconds)
    finally:
        opened.close()
    if anchored is not None and anchored.anchor is not None:
        console.print(f"anchored record {anchored.anchor.seq}")
    if verified is not None:
        console.print(f"verified: {escape(verified.summary())}", highlight=False)
    console.print(f"{raised} alert(s) raised")
    if verified is not None and not verified.ok:
        err_console.print("[bold red]FAILED[/]: the audit chain did not verify")
        raise typer.Exit(2)


@alerts_app.command("status")
@handle_errors
def status(workspace: WorkspaceOption = Path(".")) -> None:
    """Show the last verification, the newest anchor and configuration problems, as JSON."""
    opened = open_workspace(workspace)
    try:
        with opened.db() as db:
            verify = last_verify(db)
            anchor = last_anchor(db)
        problems = watch_problems(opened.settings, opened.root, opened.alerts)
    finally:
        opened.close()
    body = {
        "last_verify": None if verify is None else verify.data,
        "last_anchor": None
        if anchor is None
        else {"id": anchor.id, "seq": anchor.seq, "signed_at": anchor.signed_at},
        "problems": problems,
    }
    print_json(body)
