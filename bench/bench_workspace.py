"""What the end-to-end benchmarks share: a workspace holding the demo lab report and one analyst.

The analyst signs in over the API with a fresh TOTP code for every run, so each run is a new session
and the engine really runs.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyotp
from fastapi.testclient import TestClient

from sealroom.clock import ManualClock
from sealroom.demo.documents import demo_documents
from sealroom.vault.service import IngestRequest
from sealroom.workspace import Workspace

PASSWORD = "bench-Passw0rd-only!"
ANALYST = "analyst"


def lab_report_workspace(root: Path, clock: ManualClock, analyst_role: str) -> tuple[Workspace, str, str]:
    """Open the workspace at ``root``, add an intake user and the analyst (with a grant for the demo
    case), ingest the lab report; returns the workspace, the analyst's TOTP secret and the image id."""
    workspace = Workspace.open(root, clock=clock)
    secrets = {}
    for name, role in (("intake", "intake"), (ANALYST, analyst_role)):
        workspace.identity.add_user(name, PASSWORD, [role])
        secrets[name] = workspace.identity.enroll_mfa(name).secret
    workspace.grants.create_grant(
        ANALYST, "ENC-2026-0042", "bench", granted_by="bench", duration=timedelta(days=1)
    )
    intake_user = workspace.identity.authenticate(
        "intake", PASSWORD, pyotp.TOTP(secrets["intake"]).at(clock.now())
    )
    intake = workspace.sessions.open(intake_user, mfa_verified=True)[0]
    lab = next(d for d in demo_documents() if d.document_type == "clinical")
    image_id = workspace.vault.ingest(intake, lab.data, IngestRequest(lab.dataset, lab.case_id, "clinical"))[
        "id"
    ]
    return workspace, secrets[ANALYST], str(image_id)


def sign_in(client: TestClient, clock: ManualClock, secret: str) -> dict[str, str]:
    """A new API session for the analyst (the clock moves on so the TOTP code is fresh)."""
    clock.advance(seconds=30)
    login = {"username": ANALYST, "password": PASSWORD, "totp": pyotp.TOTP(secret).at(clock.now())}
    return {"Authorization": f"Bearer {client.post('/api/v1/login', json=login).json()['token']}"}
