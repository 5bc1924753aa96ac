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
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from bench_workspace import lab_report_workspace, sign_in
from sealroom.api.app import create_app
from sealroom.clock import ManualClock
from sealroom.db.models import AuditEvent
from sealroom.workspace import init_workspace


def measure(runs: int) -> list[tuple[float, float]]:
    """(end-to-end seconds, engine seconds) per run on the demo lab report."""
    clock = ManualClock(datetime.now(UTC))
    with tempfile.TemporaryDirectory() as folder:
        workspace, secret, image_id = lab_report_workspace(
            init_workspace(Path(folder) / "ws"), clock, "clinician"
        )
        results = []
        with TestClient(create_app(workspace, sweep=False)) as client:
            for _ in range(runs + 1):  # the first run loads the models and is dropped
                headers = sign_in(client, clock, secret)
                started = time.perf_counter()
                response = client.post(
                    f"/api/v1/images/{image_id}/analyses",
                    json={},
                    headers=headers,
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
                client.post("/api/v1/logout", headers=headers)
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
