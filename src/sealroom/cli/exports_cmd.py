"""``sealroom export request`` and ``sealroom export download``: controlled export from the command line."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Annotated

import typer
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
from sealroom.errors import ConflictError, InputError

export_app = typer.Typer(
    help="Export an image: request it (approvers decide), then download it once.", no_args_is_help=True
)


@export_app.command("request")
@handle_errors
def export_request(
    image_id: str,
    user: UserOption,
    reason: Annotated[str, typer.Option(help="Why you need the export (recorded for the approvers).")],
    export_format: Annotated[str, typer.Option("--format", help="png, pdf or dcm (DICOM).")] = "pdf",
    variant: Annotated[
        str, typer.Option(help="redacted (watermarked, personal data burned out) or original.")
    ] = "redacted",
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Ask for an export of an image you may analyse; it waits for approval."""
    opened = open_workspace(workspace)
    with signed_in(opened, user) as active:
        request = opened.exports.request_export(
            active, image_id, fmt=export_format, variant=variant, reason=reason
        )
    console.print(
        Text.assemble(
            ("Export requested: ", "green"),
            request.id,
            f" ({request.export_variant} {request.export_format}, needs {request.approvals_required} "
            f"approval{'s' if request.approvals_required > 1 else ''})",
        )
    )
    console.print(
        f"Once approved, download it within {request.duration_minutes} minutes: "
        f"sealroom export download {request.id} --user {terminal_safe(user)} --out FILE",
        highlight=False,
        markup=False,
    )


@export_app.command("download")
@handle_errors
def export_download(
    request_id: str,
    user: UserOption,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="File to write (must not exist yet).", dir_okay=False)
    ],
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Download an approved export, once, into a new file readable by you only (0600)."""
    # The file is created first (exclusively, 0600): an export is delivered once, so a path that
    # cannot be written must fail before the delivery is spent, not after.
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except FileExistsError:
        raise ConflictError(
            f"{out} exists already; choose a new file name (nothing is overwritten)"
        ) from None
    except OSError as exc:
        raise InputError(f"{out} cannot be created: {exc.strerror}") from None
    written = False
    try:
        os.fchmod(fd, 0o600)  # exactly 0600, whatever the umask
        opened = open_workspace(workspace)
        with signed_in(opened, user) as active:
            export = opened.exports.deliver(active, request_id)
        with os.fdopen(fd, "wb") as handle:
            fd = -1
            handle.write(export.data)
            handle.flush()
            os.fsync(handle.fileno())
        written = True
    finally:
        if fd >= 0:
            os.close(fd)
        if not written:
            with contextlib.suppress(OSError):
                out.unlink()
    pages = f"{export.pages} page{'s' if export.pages != 1 else ''}"
    console.print(
        f"Wrote {terminal_safe(str(out))} ({len(export.data):,} bytes, {pages}, {export.media_type})",
        highlight=False,
        markup=False,
    )
    console.print(f"sha256 {export.sha256}", highlight=False, markup=False)
