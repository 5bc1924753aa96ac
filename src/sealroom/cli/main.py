"""``sealroom``: create and serve a workspace, manage users and grants, ingest, analyse, audit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from sealroom.cli import (
    alerts_cmd,
    anchor_cmd,
    audit_cmd,
    breakglass_cmd,
    engines_cmd,
    exports_cmd,
    forward_cmd,
    images_cmd,
    integrations_cmd,
    readiness_cmd,
    requests_cmd,
    retention_cmd,
    users_cmd,
)
from sealroom.cli.common import WorkspaceOption, console, handle_errors, open_workspace, print_json
from sealroom.profiles import profile_config_text
from sealroom.workspace import init_workspace

app = typer.Typer(
    name="sealroom",
    help="Sealroom: a secure workspace for visual AI analysis of sensitive images.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(users_cmd.user_app, name="user")
app.add_typer(users_cmd.grant_app, name="grant")
app.add_typer(audit_cmd.audit_app, name="audit")
audit_cmd.audit_app.command("forward")(forward_cmd.forward)
audit_cmd.audit_app.command("anchor")(anchor_cmd.anchor)
app.add_typer(alerts_cmd.alerts_app, name="alerts")
app.add_typer(images_cmd.corpus_app, name="corpus")
app.add_typer(requests_cmd.request_app, name="request")
app.add_typer(integrations_cmd.integration_app, name="integration")
app.add_typer(breakglass_cmd.breakglass_app, name="break-glass")
app.add_typer(exports_cmd.export_app, name="export")
app.add_typer(retention_cmd.retention_app, name="retention")
app.add_typer(retention_cmd.hold_app, name="hold")
app.command("ingest")(images_cmd.ingest)
app.command("images")(images_cmd.list_images)
app.command("analyze")(images_cmd.analyze)
app.command("engines")(engines_cmd.engines)
app.command("readiness")(readiness_cmd.readiness)
app.command("signoff")(readiness_cmd.signoff)


@app.command()
@handle_errors
def init(
    path: Annotated[Path, typer.Argument(help="Folder to create the workspace in.")],
    profile: Annotated[
        str | None,
        typer.Option(help="Seed sealroom.toml for a field: clinical, financial, legal or government."),
    ] = None,
) -> None:
    """Create a workspace: config, key files (0600), encrypted blob store, migrated database."""
    root = init_workspace(path, profile_config_text(profile) if profile else None)
    console.print(f"[green]Workspace created[/] at {root}")
    console.print("Next: edit sealroom.toml (data sets, roles), then add a user:")
    console.print(f"  sealroom user add NAME --role ROLE --workspace {root}", highlight=False)


@app.command()
@handle_errors
def serve(
    workspace: WorkspaceOption = Path("."),
    host: Annotated[str | None, typer.Option(help="Bind address (default from config: loopback).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from config).")] = None,
) -> None:
    """Start the HTTP API (uvicorn). Binds to loopback unless told otherwise."""
    from sealroom.api.app import create_app

    opened = open_workspace(workspace)
    opened.sso.check_credentials()  # a missing client secret stops the start, not each sign-in
    server = opened.settings.server
    uvicorn.run(
        create_app(opened),
        host=host or server.host,
        port=port or server.port,
        log_level="info",
        access_log=False,
        server_header=False,
    )


@app.command()
@handle_errors
def demo(
    keep: Annotated[
        Path | None, typer.Option(help="Create the demo workspace here and keep it (default: a temp folder).")
    ] = None,
) -> None:
    """Run the scripted demo on synthetic documents with the offline engine."""
    from sealroom.demo.run import run_demo

    run_demo(keep)


@app.command()
def version() -> None:
    """Print the version."""
    from sealroom import __version__

    print_json({"sealroom": __version__})


if __name__ == "__main__":
    app()
