"""The scripted demo: a real run through Sealroom's code paths on synthetic documents.

It creates a throw-away workspace, adds an intake clerk, a clinician, a privacy officer and an
auditor (each with TOTP), ingests the demo documents (and one disguised file that is refused), then
drives the real HTTP API in-process: sign-in with TOTP, a masked analysis, an unmasked one for the
privacy officer, an out-of-scope access that is denied, a replayed code that is refused, sign-out
with purge, and finally the audit chain verified and listed.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
from PIL import Image as PILImage
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from sealroom.api.app import create_app
from sealroom.api.deps import SESSION_COOKIE
from sealroom.demo.documents import demo_documents
from sealroom.sessions import ActiveSession
from sealroom.vault.service import IngestRequest
from sealroom.workspace import Workspace, init_workspace

with warnings.catch_warnings():
    # Starlette's test client (used here to drive the real app in-process) warns about its httpx use.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

console = Console()
PASSWORD = "demo-Passw0rd-only!"  # noqa: S105 - the demo's throw-away accounts, never a deployment's


@contextmanager
def _workspace_dir(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        yield keep
        return
    folder = Path(tempfile.mkdtemp(prefix="sealroom-demo-"))
    try:
        yield folder / "workspace"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _step(title: str) -> None:
    console.rule(f"[bold cyan]{title}")


def _code(secret: str) -> str:
    return pyotp.TOTP(secret).now()


def _entity_table(result: dict[str, Any], limit: int = 12) -> Table:
    table = Table(
        "type", "value as delivered", "page", "confidence", title=f"document type: {result['document_type']}"
    )
    for entity in result["entities"][:limit]:
        table.add_row(entity["type"], entity["text"], str(entity["page"]), f"{entity['confidence']:.2f}")
    if len(result["entities"]) > limit:
        table.add_row("…", f"{len(result['entities']) - limit} more", "", "")
    return table


def run_demo(keep: Path | None = None) -> None:
    """Run the whole demo, narrating each step."""
    started = time.perf_counter()
    with _workspace_dir(keep) as root:
        _step("1. A new workspace")
        init_workspace(root)
        workspace = Workspace.open(root)
        console.print(f"workspace at {root}: config, 0600 key files, encrypted blob store, SQLite (migrated)")

        _step("2. Users with argon2id passwords and TOTP; a case grant")
        people = {
            "nora.intake": (["intake"], "Nora Quill (records intake)"),
            "dr.alvarez": (["clinician"], "Dr. Sam Alvarez (clinician)"),
            "pat.privacy": (["privacy-officer"], "Pat Moreau (privacy officer)"),
            "kim.audit": (["auditor"], "Kim Osei (compliance auditor)"),
            "ada.super": (["supervisor"], "Ada Lindqvist (supervisor, approves requests)"),
        }
        secrets: dict[str, str] = {}
        for username, (roles, name) in people.items():
            workspace.identity.add_user(username, PASSWORD, roles, name, actor="operator:demo")
            secrets[username] = workspace.identity.enroll_mfa(username, actor="operator:demo").secret
            console.print(f"  {username:<12} roles={roles}  {name}")
        for username in ("dr.alvarez", "pat.privacy"):
            workspace.grants.create_grant(
                username,
                "ENC-2026-0042",
                purpose="inpatient care, encounter 0042",
                duration=timedelta(hours=8),
                granted_by="operator:demo",
            )
        console.print("  dr.alvarez and pat.privacy hold an 8-hour grant for case ENC-2026-0042 only")

        _step("3. Intake ingests the documents (checked by content, encrypted per image)")
        intake = _sign_in_direct(workspace, "nora.intake", secrets["nora.intake"])
        ids: dict[str, str] = {}
        for document in demo_documents():
            meta = workspace.vault.ingest(
                intake,
                document.data,
                IngestRequest(
                    document.dataset, document.case_id, document.document_type, document.classification
                ),
            )
            ids[document.document_type] = meta["id"]
            console.print(
                f"  stored {document.filename:<22} {meta['media_type']:<16} pages={meta['pages']} "
                f"case={document.case_id} class={meta['classification']} id={meta['id'][:12]}…",
                highlight=False,
            )
        disguised = b"<!DOCTYPE html><html><script>fetch('//evil')</script></html>"
        try:
            workspace.vault.ingest(
                intake, disguised, IngestRequest("clinical-records", "ENC-2026-0042", "clinical")
            )
        except Exception as exc:  # the refusal is the point of this step
            console.print(f"  [red]refused[/] scan.png (really HTML): {exc}", highlight=False)
        workspace.sessions.end(intake.id, "logout")

        with TestClient(create_app(workspace, sweep=False)) as client:
            _step("4. The clinician signs in over the API with password + TOTP")
            first_code = _code(secrets["dr.alvarez"])
            response = client.post(
                "/api/v1/login", json={"username": "dr.alvarez", "password": PASSWORD, "totp": first_code}
            )
            response.raise_for_status()
            session = response.json()
            console.print(
                f"  session {session['session_id'][:12]}…, "
                f"idle timeout at {session['idle_expires_at'][11:19]} UTC; "
                f"response headers: Cache-Control={response.headers['cache-control']}, "
                f"cookie HttpOnly+SameSite=Strict",
                highlight=False,
            )
            images = client.get("/api/v1/images").json()["images"]
            console.print(f"  the clinician sees {len(images)} image(s): only case ENC-2026-0042 is in scope")

            _step("5. Analysis inside the session with the offline engine (OCR + PII/PHI detection, tasks)")
            with console.status("analysing the lab report (OCR runs locally, first run loads the models)…"):
                result = client.post(
                    f"/api/v1/images/{ids['clinical']}/analyses", json={"engine": "local"}
                ).json()
            console.print(_entity_table(result))
            console.print(
                "  [bold]masked for the clinician's role[/]; the image itself never leaves the workspace"
            )
            for field in result["fields"][:6]:
                console.print(f"  field {field['name']!r}: {field['value']!r}", highlight=False)

            with console.status("extracting the lab_result schema (offline engine)…"):
                extracted = client.post(
                    f"/api/v1/images/{ids['clinical']}/analyses",
                    json={"engine": "local", "task": "extract", "schema": "lab_result"},
                ).json()
            data = extracted["data"]
            console.print(
                f"  task extract, preset lab_result: patient_name={data['patient_name']!r}, "
                f"mrn={data['mrn']!r}, {len(data['results'])} result rows, first: {data['results'][0]}",
                highlight=False,
            )
            catalog = client.get("/api/v1/engines").json()
            engines = ", ".join(entry["name"] for entry in catalog["engines"])
            egress = "; ".join(
                f"{name}: {modes['confidential']}" for name, modes in catalog["egress"].items()
            )
            console.print(
                f"  engines configured: {engines}; what a model engine (none in the demo) may receive of "
                f"confidential images: {egress}",
                highlight=False,
            )

            _step("6. An out-of-scope access is denied (and audited)")
            denied = client.post(f"/api/v1/images/{ids['identity']}/analyses", json={})
            console.print(
                f"  ID card of case KYC-5520 → HTTP {denied.status_code}: {denied.json()['message']}"
            )

            _step(
                "7. An export: refused until someone else approves; delivered once, redacted and watermarked"
            )
            _export(client, ids["clinical"], secrets["ada.super"])

            _step("8. A replayed TOTP code is refused")
            replay = client.post(
                "/api/v1/login", json={"username": "dr.alvarez", "password": PASSWORD, "totp": first_code}
            )
            console.print(f"  same code again → HTTP {replay.status_code}: {replay.json()['message']}")

            _step("9. The clinician signs out: the session's image material is destroyed")
            logout = client.post("/api/v1/logout").json()
            console.print(f"  images purged from memory: {logout['images_purged']}")
            after = client.get("/api/v1/images")
            console.print(f"  the old session afterwards → HTTP {after.status_code}")

            _step("10. The privacy officer may see values in clear")
            client.cookies.clear()
            officer = client.post(
                "/api/v1/login",
                json={"username": "pat.privacy", "password": PASSWORD, "totp": _code(secrets["pat.privacy"])},
            ).json()
            headers = {"Authorization": f"Bearer {officer['token']}"}
            with console.status("analysing again in the officer's own session…"):
                clear = client.post(
                    f"/api/v1/images/{ids['clinical']}/analyses", json={}, headers=headers
                ).json()
            console.print(_entity_table(clear, limit=6))
            client.post("/api/v1/logout", headers=headers)

            _step("11. The auditor verifies the tamper-evident audit log over the API")
            client.cookies.clear()
            auditor = client.post(
                "/api/v1/login",
                json={"username": "kim.audit", "password": PASSWORD, "totp": _code(secrets["kim.audit"])},
            ).json()
            headers = {"Authorization": f"Bearer {auditor['token']}"}
            report = client.get("/api/v1/audit/verify", headers=headers).json()
            style = "green" if report["ok"] else "red"
            verdict = "OK" if report["ok"] else report["problem"]
            console.print(f"  chain verified: [{style}]{verdict}[/] ({report['checked']} records)")
            after = max(report["last_seq"] - 16, 0)
            events = client.get(f"/api/v1/audit/events?after_seq={after}", headers=headers).json()["events"]
            console.print(_audit_table(events))
            client.post("/api/v1/logout", headers=headers)
        workspace.close()
    console.print(Panel(f"Demo finished in {time.perf_counter() - started:.0f} s", style="green"))


def _export(client: TestClient, image_id: str, approver_secret: str) -> None:
    """The clinician asks to export the lab report; a supervisor approves; it is delivered once."""
    asked = client.post(
        "/api/v1/exports",
        json={"image_id": image_id, "format": "png", "variant": "redacted", "reason": "referral to oncology"},
    ).json()
    early = client.post(f"/api/v1/exports/{asked['id']}/download")
    console.print(f"  request {asked['id'][:12]}… → download before approval: HTTP {early.status_code}")
    own = client.post(f"/api/v1/requests/{asked['id']}/approve", json={"note": "mine"})
    console.print(f"  the clinician approving it himself → HTTP {own.status_code}: {own.json()['message']}")
    clinician = client.cookies.get(SESSION_COOKIE)
    signed = client.post(
        "/api/v1/login", json={"username": "ada.super", "password": PASSWORD, "totp": _code(approver_secret)}
    ).json()
    supervisor = {"Authorization": f"Bearer {signed['token']}"}
    approved = client.post(
        f"/api/v1/requests/{asked['id']}/approve", json={"note": "referral agreed"}, headers=supervisor
    ).json()
    client.post("/api/v1/logout", headers=supervisor)
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, clinician or "")
    console.print(
        f"  ada.super approves → {approved['status']}, "
        f"deliverable once until {approved['access_expires_at'][11:19]} UTC"
    )
    with console.status("rendering the export: PII and faces burned out, watermark added…"):
        delivered = client.post(f"/api/v1/exports/{asked['id']}/download")
    rendering = PILImage.open(io.BytesIO(delivered.content))
    console.print(
        f"  delivered {len(delivered.content):,} bytes ({delivered.headers['content-type']}, "
        f"{rendering.width}x{rendering.height}) with a watermark band, SHA-256 "
        f"{delivered.headers['x-sealroom-export-sha256'][:16]}… recorded in the audit log",
        highlight=False,
    )
    again = client.post(f"/api/v1/exports/{asked['id']}/download")
    console.print(f"  a second download → HTTP {again.status_code}: {again.json()['message']}")


def _sign_in_direct(workspace: Workspace, username: str, secret: str) -> ActiveSession:
    user = workspace.identity.authenticate(username, PASSWORD, _code(secret))
    active, _token = workspace.sessions.open(user, mfa_verified=True)
    return active


def _audit_table(events: list[dict[str, Any]]) -> Table:
    table = Table("seq", "time (UTC)", "actor", "action", "outcome", "reason", title="the latest records")
    for row in events:
        table.add_row(
            str(row["seq"]),
            row["ts"][11:19],
            row["actor"],
            row["action"],
            row["outcome"],
            row["reason"] or "",
        )
    return table
