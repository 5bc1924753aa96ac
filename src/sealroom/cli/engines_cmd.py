"""``sealroom engines``: the engines you can choose, whether each is ready, and the egress policy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from sealroom.analysis.catalog import engine_catalog
from sealroom.cli.common import WorkspaceOption, console, handle_errors, open_workspace, print_json


@handle_errors
def engines(
    workspace: WorkspaceOption = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """List the configured engines, their readiness, the egress policy and the extraction presets."""
    opened = open_workspace(workspace)
    try:
        catalog = engine_catalog(opened.engines, opened.gate.egress)
    finally:
        opened.close()
    if as_json:
        print_json(catalog)
        return
    table = Table(title="Engines")
    for header in ("engine", "kind", "provider", "model", "endpoint", "pixels go", "ready"):
        table.add_column(header, overflow="fold")  # never cut an endpoint or a problem short
    for entry in catalog["engines"]:
        ready = Text("yes", style="green") if entry["ready"] else Text(entry["problem"] or "no", style="red")
        table.add_row(
            entry["name"],
            entry["kind"],
            entry["provider"] or "-",
            entry["model"] or "-",
            entry["host"] or "-",
            "nowhere (in process)" if entry["egress"] == "none" else "to the endpoint, per egress policy",
            ready,
        )
    console.print(table)
    levels = opened.settings.classifications
    policy = Table("data set", *levels, title="Egress policy for external engines")
    for dataset, modes in catalog["egress"].items():
        policy.add_row(dataset, *(modes[level] for level in levels))
    console.print(policy)
    presets = Table("preset", "title", title="Extraction presets (--task extract --schema NAME)")
    for name, title in catalog["schemas"].items():
        presets.add_row(name, title)
    console.print(presets)
