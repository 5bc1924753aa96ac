"""``sealroom integration …``: tokens for systems that manage case grants through the API (operator)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from sealroom.cli.common import WorkspaceOption, console, err_console, handle_errors, open_workspace, operator
from sealroom.identity.integrations import integration_actor

integration_app = typer.Typer(
    help="Manage integrations (systems that create and revoke case grants via the API): add, list, revoke.",
    no_args_is_help=True,
)


@integration_app.command("add")
@handle_errors
def integration_add(name: str, workspace: WorkspaceOption = Path(".")) -> None:
    """Register an integration and print its token (shown once: store it now)."""
    opened = open_workspace(workspace)
    row, token = opened.integrations.create(name, created_by=operator())
    console.print(f"[green]Added[/] integration {row.name}", highlight=False)
    err_console.print(
        "[bold yellow]Store this token now[/] in the integration's secret store: it is shown only once "
        "and cannot be recovered (revoke and add a new integration if it is lost).",
        highlight=False,
    )
    console.print(f"token: {token}", highlight=False, soft_wrap=True)
    console.print(
        "Use it as 'Authorization: Bearer <token>' on /api/v1/grants only; "
        f"its actions are audited as {integration_actor(row.name)}.",
        highlight=False,
    )


@integration_app.command("list")
@handle_errors
def integration_list(workspace: WorkspaceOption = Path(".")) -> None:
    """List integrations: who added them, when last used, and whether revoked."""
    opened = open_workspace(workspace)
    table = Table("name", "added by", "added (UTC)", "last used (UTC)", "state")
    for row in opened.integrations.list():
        table.add_row(
            row.name,
            Text(row.created_by),
            f"{row.created_at:%Y-%m-%d %H:%M}",
            f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never",
            f"[red]revoked {row.revoked_at:%Y-%m-%d %H:%M}[/]" if row.revoked_at else "active",
        )
    console.print(table)


@integration_app.command("revoke")
@handle_errors
def integration_revoke(name: str, workspace: WorkspaceOption = Path(".")) -> None:
    """Revoke an integration's token at once; the grants it created stay until they expire."""
    opened = open_workspace(workspace)
    row = opened.integrations.revoke(name, revoked_by=operator())
    console.print(f"[green]Revoked[/] integration {row.name}", highlight=False)
    actor = integration_actor(row.name)
    left = [grant for grant in opened.grants.list_grants() if grant.granted_by == actor]
    if left:
        console.print(
            f"{len(left)} active grant(s) it created remain; list them with 'sealroom grant list' "
            "and revoke any that should end now with 'sealroom grant revoke ID'.",
            highlight=False,
        )
