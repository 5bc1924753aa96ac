"""``sealroom audit forward --once|--follow|--status``: feed the SIEM sinks, or show how they are doing.

An operator command: it acts with the workspace files, and what it records (``forward.sink.down`` /
``forward.sink.up``, reading the status) is audited as ``operator:<os user>``. ``sealroom serve`` feeds
the sinks itself; ``--follow`` is for deployments that run no server, or want the forwarder apart.
Both may run at once: a sink's lease lets only one of them feed it at a time.
"""

from __future__ import annotations

import signal
import threading
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from sealroom.cli.common import WorkspaceOption, console, handle_errors, open_workspace, operator, print_json
from sealroom.errors import ConfigError, InputError
from sealroom.forwarding import PassResult, SinkStatus, forwarding_status
from sealroom.workspace import Workspace

NO_SINKS = "no forwarding sinks are configured: add a [forwarding.sinks.NAME] table to sealroom.toml"


@handle_errors
def forward(
    once: Annotated[
        bool, typer.Option("--once", help="One pass over every sink (exit 1: one failed).")
    ] = False,
    follow: Annotated[bool, typer.Option("--follow", help="Keep forwarding until interrupted.")] = False,
    status: Annotated[bool, typer.Option("--status", help="Show each sink's delivery state.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="With --once or --status: print JSON.")] = False,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Forward the audit log to the SIEM sinks configured in sealroom.toml, or show their status."""
    if sum((once, follow, status)) != 1:
        raise InputError("say what to do: exactly one of --once, --follow or --status")
    opened = open_workspace(workspace)
    try:
        if status:
            _status(opened, as_json)
        elif once:
            _once(opened, as_json)
        else:
            _follow(opened)
    finally:
        opened.close()


def _once(opened: Workspace, as_json: bool) -> None:
    forwarder = opened.forwarder_as(operator())
    results = forwarder.run_once()
    if as_json:
        print_json({"results": [result.as_dict() for result in results]})
    elif not results:
        console.print(Text(NO_SINKS))
    for result in results if not as_json else ():
        console.print(_describe(result), highlight=False)
    if any(result.failed for result in results):
        raise typer.Exit(1)


def _describe(result: PassResult) -> Text:
    moved = f"cursor {result.from_seq} → {result.to_seq}"
    if result.busy:
        return Text(f"{result.sink}: not fed here: another forwarder holds it ({result.busy}); {moved}")
    if result.failed:
        return Text.assemble(
            (f"{result.sink}: ", ""),
            ("failed", "bold red"),
            f" ({result.error}, {result.failures} in a row) after sending {result.sent}; {moved}; the "
            "records wait in the audit log and the next pass sends them",
        )
    skipped = f", {result.skipped} skipped by the category filter" if result.skipped else ""
    return Text(f"{result.sink}: sent {result.sent} records{skipped}; {moved}")


def _status(opened: Workspace, as_json: bool) -> None:
    with opened.db() as db:
        sinks = forwarding_status(db, opened.settings, root=opened.root, now=opened.clock.now())
    opened.audit.append(
        opened.db, category="audit", action="audit.forwarding.read", outcome="success", actor=operator(),
        details={"sinks": len(sinks)},
    )  # fmt: skip
    if as_json:
        print_json({"sinks": [sink.as_dict() for sink in sinks]})
        return
    if not sinks:
        console.print(Text(NO_SINKS))
        return
    table = Table("sink", "kind", "target", "format", "delivered up to", "backlog", "last success")
    table.add_column("last error")
    table.add_column("state")
    for sink in sinks:
        table.add_row(
            *(Text(cell) for cell in (
                sink.name, sink.kind, sink.target, sink.format, f"seq {sink.last_seq} of {sink.head_seq}",
                str(sink.backlog), _when(sink.last_success_at), sink.last_error or "",
            )),
            _state(sink),
        )  # fmt: skip
    console.print(table)
    for sink in sinks:
        for problem in sink.problems:
            console.print(Text(f"{sink.name}: {problem}", style="yellow"))


def _state(sink: SinkStatus) -> Text:
    style = {"ok": "green", "failing": "bold red", "never": "yellow"}[sink.state]
    return Text(sink.state, style=style)


def _when(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def _follow(opened: Workspace) -> None:
    forwarder = opened.forwarder_as(operator())
    if not forwarder.sinks:
        raise ConfigError(NO_SINKS)
    stopping = threading.Event()

    def _on_signal(_number: int, _frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    forwarder.start()
    console.print(Text(f"forwarding to {', '.join(forwarder.sinks)}; stop with Ctrl-C"))
    try:
        while not stopping.wait(1.0):
            pass
    finally:
        forwarder.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    console.print("stopped", highlight=False)
