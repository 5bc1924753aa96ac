"""Platform overhead: an end-to-end analyse call through the HTTP API minus the engine's own time.

    python bench/overhead_bench.py --out bench/.out/overhead.md [--runs 5]

Each run signs in (a new session, so the engine really runs), then times ``POST /api/v1/images/{id}/analyses``
as a client sees it: session check, policy decision, decrypt, decode, engine, masking, four audit
appends. The engine's own time is taken from the ``analysis.run`` audit record of the same call. The
overhead is the difference, reported as a share of engine time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import select

from sealroom.api.app import create_app
from sealroom.clock import ManualClock
from sealroom.db.models import AuditEvent
from sealroom.demo.documents import demo_documents
from sealroom.vault.service import IngestRequest
from sealroom.workspace import Workspace, init_workspace

PASSWORD = "bench-Passw0rd-only!"


def measure(runs: int) -> list[tuple[float, float]]:
    """(end-to-end seconds, engine seconds) per run on the demo lab report."""
    clock = ManualClock(datetime.now(UTC))
    with tempfile.TemporaryDirectory() as folder:
        workspace = Workspace.open(init_workspace(Path(folder) / "ws"), clock=clock)
        secrets = {}
        for name, role in (("intake", "intake"), ("doc", "clinician")):
            workspace.identity.add_user(name, PASSWORD, [role])
            secrets[name] = workspace.identity.enroll_mfa(name).secret
        secret = secrets["doc"]
        workspace.grants.create_grant(
            "doc", "ENC-2026-0042", "bench", granted_by="bench", duration=timedelta(days=1)
        )
        intake_code = pyotp.TOTP(secrets["intake"]).at(clock.now())
        intake_user = workspace.identity.authenticate("intake", PASSWORD, intake_code)
        intake = workspace.sessions.open(intake_user, mfa_verified=True)[0]
        lab = next(d for d in demo_documents() if d.document_type == "clinical")
        image_id = workspace.vault.ingest(
            intake, lab.data, IngestRequest(lab.dataset, lab.case_id, "clinical")
        )["id"]
        results = []
        with TestClient(create_app(workspace, sweep=False)) as client:
            for _ in range(runs + 1):  # the first run loads the models and is dropped
                clock.advance(seconds=30)
                login = {"username": "doc", "password": PASSWORD, "totp": pyotp.TOTP(secret).at(clock.now())}
                token = client.post("/api/v1/login", json=login).json()["token"]
                started = time.perf_counter()
                response = client.post(
                    f"/api/v1/images/{image_id}/analyses",
                    json={},
                    headers={"Authorization": f"Bearer {token}"},
                )
                total = time.perf_counter() - started
                response.raise_for_status()
                with workspace.db() as db:
                    run = db.scalars(
                        select(AuditEvent)
                        .where(AuditEvent.action == "analysis.run")
                        .order_by(AuditEvent.seq.desc())
                    ).first()
                assert run is not None
                results.append((total, run.details["duration_ms"] / 1000))
                client.post("/api/v1/logout", headers={"Authorization": f"Bearer {token}"})
        workspace.close()
    return results[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    results = measure(args.runs)
    overheads = [total - engine for total, engine in results]
    engine = statistics.median(e for _, e in results)
    overhead = statistics.median(overheads)
    lines = [
        "## Platform overhead (end-to-end analyse call minus engine time)",
        "",
        f"Demo lab report (1 page, 1275×1650), {len(results)} runs after a warm-up, each in a new session.",
        "",
        "| figure | median |",
        "|---|---|",
        f"| end-to-end API call | {statistics.median(t for t, _ in results) * 1000:.0f} ms |",
        f"| engine time (from the audit record) | {engine * 1000:.0f} ms |",
        f"| platform overhead | {overhead * 1000:.0f} ms |",
        f"| overhead as a share of engine time | {overhead / engine * 100:.1f} % (target ≤ 5 %) |",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
