"""``sealroom user …`` and ``sealroom grant …``: host-operator administration, audited as the OS user."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import segno
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
    role: Annotated[
        list[str] | None, typer.Option("--role", "-r", help="Role from sealroom.toml (repeatable).")
    ] = None,
    display_name: Annotated[str, typer.Option(help="Full name shown in the interface.")] = "",
    sso: Annotated[
        str | None,
        typer.Option(
            help="Identity provider (a name under sso.providers) this person signs in with: no "
            "password; roles come from the provider's groups at each sign-in."
        ),
    ] = None,
    subject: Annotated[
        str | None,
        typer.Option(
            help="With --sso: the provider's subject ('sub') for this person, to link the account "
            "now rather than at a first sign-in with exactly this username."
        ),
    ] = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Add a user (the password is asked for, or read from SEALROOM_NEW_PASSWORD); with --sso, an
    account that signs in only through that identity provider."""
    opened = open_workspace(workspace)
    if sso is not None:
        if role:
            raise InputError("--role does not apply with --sso: the provider's groups give the roles")
        user = opened.identity.add_sso_user(username, sso, display_name, subject=subject, actor=operator())
        console.print(f"[green]Added[/] {user.username}: signs in through {sso}; roles come from its groups")
        return
    if subject is not None:
        raise InputError("--subject goes with --sso PROVIDER")
    if not opened.settings.login.local_accounts:
        raise InputError(
            "password sign-in is turned off in this workspace (login.local_accounts = false): a password "
            "account could never sign in; add it with --sso PROVIDER"
        )
    if not role:
        raise InputError("give at least one --role (or --sso PROVIDER for a single-sign-on account)")
    user = opened.identity.add_user(username, _new_password(username), role, display_name, actor=operator())
    console.print(f"[green]Added[/] {user.username} with roles {', '.join(user.roles)}")
    console.print(f"Enrol a second factor next: sealroom user enroll-mfa {user.username}", highlight=False)


@user_app.command("link-sso")
@handle_errors
def user_link_sso(
    username: str,
    subject: Annotated[str, typer.Option(help="The provider's subject ('sub') for this person.")],
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Link a single-sign-on account to its person at the provider (or correct a wrong link)."""
    opened = open_workspace(workspace)
    user = opened.identity.link_sso(username, subject, actor=operator())
    console.print(f"[green]Linked[/] {user.username} to its {user.sso_provider} subject")


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
            "enrolled"
            if user.mfa_enrolled
            else (f"via {user.sso_provider}" if user.sso_provider else "[yellow]none[/]"),
            _status(user.disabled, user.sso_provider, user.sso_subject),
        )
    console.print(table)


def _status(disabled: bool, provider: str | None, subject: str | None) -> str:
    state = "[red]disabled[/]" if disabled else "active"
    if provider is None:
        return state
    return f"{state}, sso {provider}" + ("" if subject else " (not linked yet)")


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
    purpose: Annotated[str, typer.Option(help="Why this access is needed (recorded).")],
    cases: Annotated[
        list[str] | None, typer.Argument(help="Case id(s) (or use --case).", show_default=False)
    ] = None,
    case: Annotated[
        list[str] | None,
        typer.Option("--case", "-c", help="A case to grant (repeatable).", show_default=False),
    ] = None,
    hours: Annotated[
        float | None, typer.Option(help="How long the grants last (default 8 hours).", min=0.01)
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="Expiry instead of --hours: ISO 8601 with a zone, e.g. 2026-03-31T17:00Z."),
    ] = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Grant a user access to one or more cases for a purpose and a time window (all or none)."""
    case_ids = [*(cases or []), *(case or [])]
    if not case_ids:
        raise InputError("name at least one case: --case CASE (repeatable)")
    if not purpose.strip():
        raise InputError("a grant needs a purpose: --purpose 'why this person needs the case'")
    if hours is not None and until is not None:
        raise InputError("give either --hours or --until, not both")
    expires_at = _parse_until(until) if until is not None else None
    duration = None if expires_at is not None else timedelta(hours=hours if hours is not None else 8.0)
    opened = open_workspace(workspace)
    grants = opened.grants.create_grants(
        username, case_ids, purpose, granted_by=operator(), expires_at=expires_at, duration=duration
    )
    for grant in grants:
        console.print(
            Text.assemble(
                ("Granted", "green"),
                f" {terminal_safe(username)} → case ",
                terminal_safe(grant.case_id),
                f" until {grant.expires_at:%Y-%m-%d %H:%M} UTC (grant id {grant.id})",
            )
        )


def _parse_until(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(
            f"--until {text[:64]!r} is not an ISO 8601 time; e.g. 2026-03-31T17:00:00+00:00"
        ) from None


@grant_app.command("list")
@handle_errors
def grant_list(
    user: Annotated[str | None, typer.Argument(help="Only this user's grants.", show_default=False)] = None,
    username: Annotated[
        str | None, typer.Option("--user", help="Only this user's grants.", hidden=True)
    ] = None,
    case: Annotated[str | None, typer.Option("--case", help="Only grants for this case.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include expired and revoked grants.")] = False,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """List grants (active ones unless --all), with how each came to be."""
    opened = open_workspace(workspace)
    table = Table("user", "case", "purpose", "source", "granted by", "expires (UTC)", "state")
    table.add_column("grant id", no_wrap=True, min_width=32)
    for view in opened.grants.list_views(user or username, case_id=case, include_expired=all_):
        grant = view.grant
        table.add_row(
            view.username,
            Text(terminal_safe(grant.case_id)),
            Text(terminal_safe(grant.purpose)),
            grant.source,
            Text(terminal_safe(grant.granted_by)),
            f"{grant.expires_at:%Y-%m-%d %H:%M}",
            view.status,
            grant.id,
        )
    console.print(table)


@grant_app.command("revoke")
@handle_errors
def grant_revoke(grant_id: str, workspace: WorkspaceOption = Path(".")) -> None:
    """Revoke a grant at once (also inside open sessions)."""
    opened = open_workspace(workspace)
    opened.grants.revoke_grant(grant_id, revoked_by=operator())
    console.print(f"[green]Revoked[/] grant {grant_id}")
