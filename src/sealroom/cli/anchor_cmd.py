"""``sealroom audit anchor``: sign the chain head now, show the public key, or check the chain
against its signed anchors (the table, the configured anchor file and any ``--file``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from sealroom.alerting.monitor import Monitor
from sealroom.audit.anchor_key import AnchorKey
from sealroom.audit.anchors import anchor_key_path
from sealroom.cli.common import (
    WorkspaceOption,
    console,
    err_console,
    handle_errors,
    open_workspace,
    operator,
    print_json,
)
from sealroom.errors import InputError


@handle_errors
def anchor(
    public_key: Annotated[
        bool, typer.Option("--public-key", help="Print the anchor public key and its key_id, to publish.")
    ] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Check the chain against every signed anchor (exit 0 or 2).")
    ] = False,
    file: Annotated[
        list[Path] | None,
        typer.Option(
            "--file",
            help="With --check: also an anchor file, or a SIEM export of audit.anchor records (repeatable).",
            dir_okay=False,
        ),
    ] = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Sign the audit chain head now with the workspace's Ed25519 anchor key (default), print the
    public key (--public-key), or check the chain against the signed anchors (--check)."""
    if public_key and check:
        raise InputError("choose one of --public-key and --check")
    if file and not check:
        raise InputError("--file goes with --check")
    opened = open_workspace(workspace)
    try:
        if public_key:
            key = AnchorKey.load(anchor_key_path(opened.root, opened.settings))
            print_json({"public_key": key.public_key_hex, "key_id": key.key_id})
        elif check:
            _check(Monitor.of(opened), tuple(file or ()))
        else:
            _sign(Monitor.of(opened))
    finally:
        opened.close()


def _sign(monitor: Monitor) -> None:
    result = monitor.sign_now(actor=operator())
    signed = result.anchor
    if signed is None:
        console.print("The audit log is empty: nothing to anchor.")
        return
    console.print(
        f"[green]Anchored[/] record {signed.seq} (anchor {signed.id}, key {signed.key_id[:16]}…)",
        highlight=False,
    )
    if result.file_written is False:
        err_console.print("[bold red]FAILED[/]: the anchor file could not be written (see audit.anchor.file)")
        raise typer.Exit(2)


def _check(monitor: Monitor, files: tuple[Path, ...]) -> None:
    for path in files:
        if not path.is_file():
            raise InputError(f"{path} is not a readable file")
    report, file_state = monitor.check(files)
    monitor.audit.append(
        monitor.db,
        category="audit",
        action="audit.anchor.check",
        outcome="success" if report.ok else "failure",
        actor=operator(),
        details={
            "ok": report.ok,
            "checked": report.chain.checked,
            "anchors_checked": report.anchors_checked,
            "first_bad_seq": report.chain.first_bad_seq,
            "anchor_file": file_state,
        },
    )
    if file_state == "missing":
        err_console.print("warning: the configured anchor file does not exist (yet)")
    if report.ok:
        console.print(f"[green]OK[/]: {escape(report.summary())}", highlight=False)
        return
    err_console.print(f"[bold red]FAILED[/]: {escape(report.summary())}", highlight=False)
    raise typer.Exit(2)
