"""What minimum egress costs: redaction, page encoding, and Sealroom's own time around a model call.

    python bench/egress_bench.py --out bench/.out/egress.md [--runs 5]

Per page of the demo lab report and bank statement: face detection plus burn-in of the offline
engine's findings (``redact``, given the offline analysis), and encoding within Claude's default limits.
End to end: an ``allowed`` describe through the API with the real ``anthropic`` SDK against a model
server on loopback that answers at once, so the time measured is Sealroom's own (session, policy,
decrypt, encoding, the egress audit records, SDK, reply checks, output PII scan, masking).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from bench_workspace import lab_report_workspace, sign_in
from sealroom.analysis.local.engine import LocalEngine
from sealroom.analysis.model.imaging import encode_for_upload
from sealroom.analysis.models import PageImage
from sealroom.api.app import create_app
from sealroom.clock import ManualClock
from sealroom.config import LimitSettings
from sealroom.demo.documents import demo_documents
from sealroom.redaction import redact
from sealroom.vault.decode import decode_document
from sealroom.workspace import init_workspace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.model_server import ModelServer, reply

KEY_ENV = "SEALROOM_BENCH_KEY"


def _median_ms(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def per_page(runs: int) -> list[str]:
    """Rows of the per-page table: redaction and encoding times and the encoded size."""
    engine = LocalEngine()
    rows = []
    for document in demo_documents()[:2]:
        decoded = decode_document(document.data, LimitSettings())
        pages = [PageImage(i, page) for i, page in enumerate(decoded.pages)]
        local = engine.analyze(pages)
        redact_ms = _median_ms(lambda pages=pages, local=local: redact(pages, local), runs) / len(pages)
        encode_ms = _median_ms(
            lambda pages=pages: [
                encode_for_upload(p, max_side=1568, max_pixels=1_600_000, max_bytes=3_750_000) for p in pages
            ],
            runs,
        ) / len(pages)
        sizes = [
            encode_for_upload(p, max_side=1568, max_pixels=1_600_000, max_bytes=3_750_000) for p in pages
        ]
        first = pages[0].image
        rows.append(
            f"| {document.filename} | {len(pages)} | {first.width}×{first.height} | {redact_ms:.0f} ms "
            f"| {encode_ms:.0f} ms | {statistics.mean(len(s.data) for s in sizes) / 1000:.0f} kB |"
        )
    return rows


def end_to_end(runs: int) -> float:
    """Median ms of an ``allowed`` describe through the API against an instant model server."""
    os.environ[KEY_ENV] = "bench-key"
    clock = ManualClock(datetime.now(UTC))
    with tempfile.TemporaryDirectory() as folder, ModelServer() as server:
        root = init_workspace(Path(folder) / "ws")
        config = root / "sealroom.toml"
        text = config.read_text().replace('egress = "local-only"', 'egress = "allowed"', 1)
        text += (
            f'\n[engines.claude]\nkind = "anthropic"\nmodel = "bench"\n'
            f'base_url = "{server.base_url("anthropic")}"\napi_key_env = "{KEY_ENV}"\n'
        )
        config.write_text(text)
        server.default = lambda request: reply('{"summary": "A lab report.", "document_type": "clinical"}')
        # A role that may see PII unmasked: its pages go as they are (others' would go redacted).
        workspace, secret, image_id = lab_report_workspace(root, clock, "privacy-officer")
        times = []
        with TestClient(create_app(workspace, sweep=False)) as client:
            for _ in range(runs + 1):  # the first run loads the SDK and the recognisers and is dropped
                headers = sign_in(client, clock, secret)
                started = time.perf_counter()
                response = client.post(
                    f"/api/v1/images/{image_id}/analyses",
                    json={"engine": "claude", "task": "describe"},
                    headers=headers,
                )
                times.append(time.perf_counter() - started)
                response.raise_for_status()
                client.post("/api/v1/logout", headers=headers)
        workspace.close()
    return statistics.median(times[1:]) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rows = per_page(args.runs)
    total = end_to_end(args.runs)
    lines = [
        "## Egress to model engines",
        "",
        f"Medians of {args.runs} runs. Redaction is face detection plus burn-in of the offline engine's "
        "findings (the offline analysis itself is the engine figure above); encoding is to Claude's default "
        "limits (1568 px, 1.6 MP, 3.75 MB).",
        "",
        "| document | pages | page size | redaction per page | encoding per page | encoded size |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        "An `allowed` describe of the lab report through the API, real `anthropic` SDK, model server on "
        f"loopback answering at once: **{total:.0f} ms** of Sealroom's own time per analysis (session "
        "check, policy and egress decisions, decrypt, encoding, egress audit records, SDK round trip, reply "
        "checks, PII scan of the reply, masking). A real model adds its own seconds on top.",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
