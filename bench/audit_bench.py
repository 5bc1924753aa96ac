"""Audit log benchmark: durable appends per second and verification rate, on a SQLite file.

    python bench/audit_bench.py [--appends 20000] [--records 200000] [--out docs/benchmarks.md]

1. *Durable appends*: ``AuditLog.record`` in its own transaction, one commit per append, on the product's
   SQLite engine (WAL, ``synchronous=NORMAL``: each commit survives a crash of the process). Measured
   twice: with SQLite's default automatic checkpoints (run by whichever commit fills the WAL, so that
   commit pays two fsyncs and the page copy-back) and with automatic checkpoints off during the run and
   one checkpoint at its end, inside the timing (what a background checkpointer would give).
2. *Verification*: ``verify_chain`` over the whole chain (the appended records plus bulk-sealed ones up to
   ``--records``), best of three.

Numbers depend on the machine and on what else runs on it; the load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import event, text

from bench_report import cpu_model, write_section
from sealroom.audit.chain import Sealer, canonical_details, canonical_text, format_ts
from sealroom.audit.log import AuditLog, ensure_head
from sealroom.audit.verify import verify_chain
from sealroom.clock import SystemClock
from sealroom.db.engine import create_db_engine, session_factory
from sealroom.db.models import Base

KEY = secrets.token_bytes(32)




def appends(path: Path, n: int, *, deferred_checkpoint: bool) -> float:
    """Durable appends per second (one transaction and commit each)."""
    engine = create_db_engine(f"sqlite:///{path}")
    if deferred_checkpoint:

        @event.listens_for(engine, "connect")
        def _no_autocheckpoint(dbapi_connection: sqlite3.Connection, _record: object) -> None:
            dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")

    Base.metadata.create_all(engine)
    sessions = session_factory(engine)
    log = AuditLog(KEY, SystemClock())
    with sessions() as db, db.begin():
        ensure_head(db)
    details = {"pages": 1, "engine": "local", "sha256": "ab" * 32}
    started = time.perf_counter()
    with sessions() as db:
        for i in range(n):
            with db.begin():
                log.record(
                    db, category="image", action="image.open", outcome="success", actor=f"user{i % 40}",
                    session_id=secrets.token_hex(16), image_id=secrets.token_hex(16),
                    case_id=f"CASE-{i % 97}", details=details,
                )  # fmt: skip
        if deferred_checkpoint:
            db.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    elapsed = time.perf_counter() - started
    engine.dispose()
    return n / elapsed


def bulk_fill(path: Path, total: int) -> None:
    """Continue the chain up to ``total`` records, sealed exactly as the writer seals them, in bulk."""
    conn = sqlite3.connect(path)
    seq, prev = conn.execute("SELECT seq, mac FROM audit_head WHERE id = 1").fetchone()
    sealer = Sealer(KEY)
    ts = datetime.now(UTC)
    details_json = canonical_details({"pages": 1, "engine": "local", "sha256": "cd" * 32})
    rows = []
    while seq < total:
        seq += 1
        ts += timedelta(microseconds=1500)
        ts_text = format_ts(ts)
        event_id = secrets.token_hex(16)
        session_id, image_id, actor, case = (
            secrets.token_hex(16),
            secrets.token_hex(16),
            f"user{seq % 40}",
            "C-1",
        )
        canonical = canonical_text(seq, event_id, ts_text, "analysis", "analysis.run", "success", actor,
                                   session_id, image_id, case, None, details_json)  # fmt: skip
        mac = sealer.seal(prev, canonical)
        rows.append((seq, event_id, ts_text[:-1], "analysis", "analysis.run", "success", actor, session_id,
                     image_id, case, None, details_json, prev, mac))  # fmt: skip
        prev = mac
    conn.executemany("INSERT INTO audit_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("UPDATE audit_head SET seq = ?, mac = ? WHERE id = 1", (seq, prev))
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def verify_rate(path: Path, total: int) -> float:
    engine = create_db_engine(f"sqlite:///{path}")
    sessions = session_factory(engine)
    best = float("inf")
    for _ in range(3):
        with sessions() as db:
            started = time.perf_counter()
            report = verify_chain(db, KEY)
            best = min(best, time.perf_counter() - started)
        if not report.ok or report.checked != total:
            raise SystemExit(f"verification failed: {report}")
    engine.dispose()
    return total / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=20_000)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--out", type=Path, help="append a markdown section to this file")
    parser.add_argument("--dir", type=Path, help="where to put the database files (default: a temp dir)")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        default_rate = appends(Path(tmp) / "default.db", args.appends, deferred_checkpoint=False)
        print(f"durable appends (default checkpoints): {default_rate:,.0f}/s")
        deferred_rate = appends(Path(tmp) / "deferred.db", args.appends, deferred_checkpoint=True)
        print(f"durable appends (checkpoint deferred):  {deferred_rate:,.0f}/s")
        total = max(args.records, args.appends)
        bulk_fill(Path(tmp) / "deferred.db", total)
        rate = verify_rate(Path(tmp) / "deferred.db", total)
        print(f"verify: {rate:,.0f} records/s over {total:,} records")
    load_after = os.getloadavg()[0]

    rows = [
        (
            f"durable appends ({args.appends:,}), SQLite WAL `synchronous=NORMAL`, one commit each, "
            "default auto-checkpoints",
            f"{default_rate:,.0f} /s",
            "≥ 5,000 /s",
        ),
        (
            f"the same ({args.appends:,}) with auto-checkpoint off and one checkpoint at the end, timed",
            f"{deferred_rate:,.0f} /s",
            "≥ 5,000 /s",
        ),
        (f"`verify_chain` over {total:,} records (best of 3)", f"{rate:,.0f} records/s", "≥ 300,000 /s"),
    ]
    section = "\n".join(
        [
            "",
            f"## Audit log ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
            "",
            f"Machine: {cpu_model()}, {os.cpu_count()} cores; Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}; load {load_before:.1f} before, {load_after:.1f} after; "
            "command `python bench/audit_bench.py`.",
            "",
            "| measurement | result | target |",
            "| --- | --- | --- |",
            *(f"| {what} | {result} | {target} |" for what, result, target in rows),
            "",
        ]
    )
    write_section(section, args.out)


if __name__ == "__main__":
    main()
