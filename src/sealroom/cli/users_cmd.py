"""``sealroom user …`` and ``sealroom grant …``: host-operator administration, audited as the OS user."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import segno
import typer
from rich.table import Table
from rich.text import Text

from sealroom.cli.common import WorkspaceOption, console, handle_errors, open_workspace, operator

user_app = typer.Typer(
    help="Manage users: add, list, disable, enable, set-password, enrol MFA.", no_args_is_help=True
)
grant_app = typer.Typer(help="Manage case grants: add, list, revoke.", no_args_is_help=True)


def _new_password(username: str) -> str:
    from_env = os.environ.get("SEALROOM_NEW_PASSWORD")
    if from_env:
        return from_env
    return str(typer.prompt(f"New password for {username}", hide_input=True, confirmation_prompt=True))


@user_app.command("add")
@handle_errors
def user_add(
    username: str,
    role: Annotated[list[str], typer.Option("--role", "-r", help="Role from sealroom.toml (repeatable).")],
    display_name: Annotated[str, typer.Option(help="Full name shown in the interface.")] = "",
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Add a user (the password is asked for, or read from SEALROOM_NEW_PASSWORD)."""
    opened = open_workspace(workspace)
    user = opened.identity.add_user(username, _new_password(username), role, display_name, actor=operator())
    console.print(f"[green]Added[/] {user.username} with roles {', '.join(user.roles)}")
    console.print(f"Enrol a second factor next: sealroom user enroll-mfa {user.username}", highlight=False)


@user_app.command("list")
@handle_errors
def user_list(workspace: WorkspaceOption = Path(".")) -> None:
    """List users with their roles and MFA state."""
    opened = open_workspace(workspace)
    table = Table("username", "name", "roles", "mfa", "status")
    for user in opened.identity.list_users():
        table.add_row(
            user.username,
            Text(user.display_name),
            ", ".join(user.roles),
            "enrolled" if user.mfa_enrolled else "[yellow]none[/]",
            "[red]disabled[/]" if user.disabled else "active",
        )
    console.print(table)


@user_app.command("disable")
@handle_errors
def user_disable(username: str, workspace: WorkspaceOption = Path(".")) -> None:
    """Disable a user: no further sign-in; open sessions end at their next request."""
    opened = open_workspace(workspace)
    user = opened.identity.disable_user(username, actor=operator())
    console.print(f"[green]Disabled[/] {user.username}")


@user_app.command("enable")
@handle_errors
def user_enable(username: str, workspace: WorkspaceOption = Path(".")) -> None:
    """Allow a disabled user to sign in again."""
    opened = open_workspace(workspace)
    user = opened.identity.enable_user(username, actor=operator())
    console.print(f"[green]Enabled[/] {user.username}")


@user_app.command("set-password")
@handle_errors
def user_set_password(username: str, workspace: WorkspaceOption = Path(".")) -> None:
    """Replace a user's password (asked for, or read from SEALROOM_NEW_PASSWORD)."""
    opened = open_workspace(workspace)
    user = opened.identity.set_password(username, _new_password(username), actor=operator())
    console.print(f"[green]Password changed[/] for {user.username}")


@user_app.command("enroll-mfa")
@handle_errors
def user_enroll_mfa(
    username: str,
    replace: Annotated[bool, typer.Option(help="Replace an existing second factor (lost device).")] = False,
    qr: Annotated[bool, typer.Option(help="Show the set-up QR code in the terminal.")] = True,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Enrol a TOTP authenticator; the secret is shown once and stored only sealed."""
    opened = open_workspace(workspace)
    enrolment = opened.identity.enroll_mfa(username, replace=replace, actor=operator())
    if qr:
        segno.make(enrolment.provisioning_uri, error="m").terminal(compact=True)
    console.print(f"Secret (shown once): [bold]{enrolment.secret}[/]", highlight=False)
    console.print(f"URI: {enrolment.provisioning_uri}", highlight=False, soft_wrap=True)


@grant_app.command("add")
@handle_errors
def grant_add(
    username: str,
    case_id: str,
    purpose: Annotated[str, typer.Option(help="Why this access is needed (recorded).")],
    hours: Annotated[float, typer.Option(help="How long the grant lasts.", min=0.01)] = 8.0,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Grant a user access to one case for a purpose and a time window."""
    opened = open_workspace(workspace)
    grant = opened.grants.create_grant(
        username, case_id, purpose=purpose, duration=timedelta(hours=hours), granted_by=operator()
    )
    console.print(
        f"[green]Granted[/] {username} → case {grant.case_id} until {grant.expires_at:%Y-%m-%d %H:%M} UTC"
    )
    console.print(f"grant id: {grant.id}", highlight=False)


@grant_app.command("list")
@handle_errors
def grant_list(
    username: Annotated[str | None, typer.Option("--user", help="Only this user's grants.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include expired and revoked grants.")] = False,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """List grants."""
    opened = open_workspace(workspace)
    table = Table("user", "case", "purpose", "expires (UTC)", "state")
    table.add_column("grant id", no_wrap=True, min_width=32)
    now = opened.clock.now()
    names = {user.id: user.username for user in opened.identity.list_users()}
    for row in opened.grants.list_grants(username=username, include_expired=all_):
        state = "revoked" if row.revoked_at else ("expired" if row.expires_at <= now else "active")
        table.add_row(
            names.get(row.user_id, row.user_id),
            Text(row.case_id),
            Text(row.purpose),
            f"{row.expires_at:%Y-%m-%d %H:%M}",
            state,
            row.id,
        )
    console.print(table)


@grant_app.command("revoke")
@handle_errors
def grant_revoke(grant_id: str, workspace: WorkspaceOption = Path(".")) -> None:
    """Revoke a grant at once (also inside open sessions)."""
    opened = open_workspace(workspace)
    opened.grants.revoke_grant(grant_id, revoked_by=operator())
    console.print(f"[green]Revoked[/] grant {grant_id}")
