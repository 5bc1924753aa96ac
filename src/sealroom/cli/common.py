"""What every command shares: finding the workspace, signing in, and turning errors into exit codes."""

from __future__ import annotations

import contextlib
import functools
import getpass
import json
import os
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from sealroom.errors import MfaRequiredError, SealroomError
from sealroom.sessions import ActiveSession
from sealroom.workspace import Workspace

P = ParamSpec("P")
R = TypeVar("R")

console = Console()
err_console = Console(stderr=True)

WorkspaceOption = Annotated[
    Path,
    typer.Option(
        "--workspace",
        "-w",
        envvar="SEALROOM_WORKSPACE",
        help="Workspace folder (default: current folder).",
        file_okay=False,
    ),
]
UserOption = Annotated[
    str,
    typer.Option(
        "--user",
        "-u",
        envvar="SEALROOM_USER",
        help="Sign in as this user (password and TOTP code are asked for, or read from "
        "SEALROOM_PASSWORD / SEALROOM_TOTP).",
    ),
]


def operator() -> str:
    """The audit actor for host-operator commands run by whoever holds the workspace files."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = str(os.getuid())
    return f"operator:{name}"


def print_json(value: Any) -> None:
    """Write ``value`` as indented JSON to stdout, as plain text.

    Every machine-readable output of the CLI goes through here: Rich would wrap long strings at the
    terminal's width (breaking the JSON when piped) and read ``[word]`` as markup.
    """
    typer.echo(json.dumps(value, indent=2))


def print_plain(text: str) -> None:
    """Write one line to stdout as it is: no markup, no wrapping (hashes, key ids, file names)."""
    typer.echo(terminal_safe(text))


def handle_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Print a ``SealroomError`` as one line and exit with its code (no traceback).

    A command called with ``--json`` (its ``as_json`` parameter) also prints the error to stdout as
    ``{"status": "error", "exit_code": N, "error": "..."}``, so a script reading stdout gets JSON.
    """

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except SealroomError as exc:
            # Messages can quote an endpoint or a file: no control sequence reaches the terminal.
            message = escape(terminal_safe(exc.message))
            err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
            if kwargs.get("as_json") is True:
                print_json({"status": "error", "exit_code": exc.exit_code, "error": exc.message})
            raise typer.Exit(exc.exit_code) from None

    return wrapper


def terminal_safe(text: str) -> str:
    """``text`` with control characters (escape sequences) shown as ``\\x..``, newlines and tabs
    kept: analysis output comes from documents and models and must not drive the terminal."""
    return "".join(
        char if char in "\n\t" or unicodedata.category(char) not in ("Cc", "Cf") else ascii(char)[1:-1]
        for char in text
    )


def open_workspace(path: Path) -> Workspace:
    """Open the workspace at ``path`` (checks the key files and migrates the database)."""
    return Workspace.open(path)


def sign_in(workspace: Workspace, username: str) -> ActiveSession:
    """Authenticate interactively (or from the environment) and open a session."""
    password = os.environ.get("SEALROOM_PASSWORD") or typer.prompt(
        f"Password for {username}", hide_input=True
    )
    code = os.environ.get("SEALROOM_TOTP")
    try:
        user = workspace.identity.authenticate(username, password, code)
    except MfaRequiredError:
        code = typer.prompt("Authenticator code")
        user = workspace.identity.authenticate(username, password, code)
    active, _token = workspace.sessions.open(user, mfa_verified=user.mfa_enrolled)
    return active


@contextlib.contextmanager
def signed_in(workspace: Workspace, username: str) -> Iterator[ActiveSession]:
    """A session for one command, ended (and whatever it opened destroyed) when the command is done."""
    active = sign_in(workspace, username)
    try:
        yield active
    finally:
        workspace.sessions.end(active.id, "logout")
