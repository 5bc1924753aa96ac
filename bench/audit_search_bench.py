"""Audit search benchmark: the five named searches on a 1,000,000-record audit log in SQLite.

    python bench/audit_search_bench.py [--records 1000000] [--out docs/benchmarks.md]

The log is built in a temporary workspace database (all migrations, so the search indexes of 0005 are
the ones measured) with ``executemany`` of rows sealed by the real chain code (``Sealer``,
``canonical_text``), in a mix shaped like a busy hospital workspace: 2,000 users, 50,000 images in
5,000 cases, about 3 % denials, a break-glass every ~20,000 records, an export every ~500. Each search
is timed on its first page and on a deep page (a keyset cursor half-way through its matches), 100
records a page, median of 5, through ``sealroom.audit.query.page`` on a warm cache.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import secrets
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench_report import cpu_model, write_section
from sealroom.audit.chain import GENESIS_MAC, Sealer, canonical_details, canonical_text, format_ts
from sealroom.audit.query import AuditQuery, page
from sealroom.db.engine import create_db_engine, session_factory
from sealroom.db.migrate import upgrade

KEY = secrets.token_bytes(32)
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
USERS, IMAGES, CASES = 2_000, 50_000, 5_000




def _event(rng: random.Random, n: int) -> tuple[str, str, str, str, str | None, str | None]:
    """(category, action, outcome, actor, image_id, case_id) of the n-th record."""
    image = rng.randrange(IMAGES)
    image_id, case_id = f"{image:032x}", f"ENC-{image % CASES:05d}"
    actor = f"user{rng.randrange(USERS):04d}"
    if n % 20_000 == 7:
        return "access", "access.break_glass", "allow", actor, None, case_id
    if n % 500 == 3:
        return "delivery", "delivery.export", "success", actor, image_id, case_id
    roll = rng.random()
    if roll < 0.03:
        return "access", "access.decision", "deny", actor, image_id, case_id
    if roll < 0.40:
        return "access", "access.decision", "allow", actor, image_id, case_id
    if roll < 0.60:
        return "image", "image.open", "success", actor, image_id, case_id
    if roll < 0.80:
        return "analysis", "analysis.run", "success", actor, image_id, case_id
    if roll < 0.90:
        return "delivery", "delivery.result", "success", actor, image_id, case_id
    return "session", "session.open", "success", actor, None, None


def build(path: Path, total: int) -> None:
    """A migrated database holding a sealed chain of ``total`` records."""
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    sealer, rng = Sealer(KEY), random.Random(5)
    details = canonical_details({"pages": 1})
    prev, ts, seq = GENESIS_MAC, START, 0
    insert = "INSERT INTO audit_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    while seq < total:
        rows = []
        for _ in range(min(50_000, total - seq)):
            seq += 1
            ts += timedelta(milliseconds=300)
            category, action, outcome, actor, image_id, case_id = _event(rng, seq)
            session_id, event_id, ts_text = secrets.token_hex(16), secrets.token_hex(16), format_ts(ts)
            reason = "no_case_grant" if outcome == "deny" else None
            canonical = canonical_text(seq, event_id, ts_text, category, action, outcome, actor, session_id,
                                       image_id, case_id, reason, details)  # fmt: skip
            mac = sealer.seal(prev, canonical)
            rows.append((seq, event_id, ts_text[:-1], category, action, outcome, actor, session_id, image_id,
                         case_id, reason, details, prev, mac))  # fmt: skip
            prev = mac
        conn.executemany(insert, rows)
    conn.execute("INSERT INTO audit_head (id, seq, mac) VALUES (1, ?, ?)", (seq, prev))
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


def _time(sessions: object, query: AuditQuery) -> tuple[float, int]:
    times, found = [], 0
    for _ in range(5):
        with sessions() as db:  # type: ignore[operator]
            started = time.perf_counter()
            found = len(page(db, query).records)
            times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, found


def _middle_seq(conn: sqlite3.Connection, query: AuditQuery) -> int:
    """A keyset cursor half-way through the matches (found with SQL apart from the code under test)."""
    where, args = [], []
    for column, value in (("image_id", query.image_id), ("case_id", query.case_id), ("actor", query.actor),
                          ("outcome", query.outcome)):  # fmt: skip
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    if query.actions:
        where.append(f"action IN ({', '.join('?' for _ in query.actions)})")
        args.extend(query.actions)
    if query.since is not None and query.until is not None:
        where.append("ts >= ? AND ts < ?")
        args += [format_ts(query.since)[:-1], format_ts(query.until)[:-1]]
    sql = f"SELECT seq FROM audit_events WHERE {' AND '.join(where)} ORDER BY seq"
    seqs = [row[0] for row in conn.execute(sql, args)]
    return int(seqs[len(seqs) // 2]) if seqs else 0


def measure(path: Path, total: int) -> list[tuple[str, float, float, int]]:
    engine = create_db_engine(f"sqlite:///{path}")
    sessions = session_factory(engine)
    conn = sqlite3.connect(path)
    day = START + timedelta(seconds=total * 0.3 / 2)
    searches = [
        ("who accessed one image (`--image X --kind access`)",
         AuditQuery(image_id=f"{4242:032x}", kind="access")),
        ("every record of one case (`--case X`)", AuditQuery(case_id="ENC-00042")),
        ("one user in one day (`--user U --since --until`)",
         AuditQuery(actor="user0042", since=day, until=day + timedelta(days=1))),
        ("all denials (`--denials`)", AuditQuery(kind="denials")),
        ("all break-glass use (`--break-glass`)", AuditQuery(kind="break-glass")),
        ("all exports (`--exports`)", AuditQuery(kind="exports")),
    ]  # fmt: skip
    results = []
    for label, query in searches:
        first_ms, found = _time(sessions, query)
        deep_ms, _ = _time(sessions, AuditQuery(**{**query.__dict__, "after_seq": _middle_seq(conn, query)}))
        results.append((label, first_ms, deep_ms, found))
        print(f"{label}: first page {first_ms:.2f} ms ({found} records), deep page {deep_ms:.2f} ms")
    conn.close()
    engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, help="append a markdown section to this file")
    parser.add_argument("--dir", type=Path, help="where to put the database (default: a temp dir)")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "sealroom.db"
        started = time.perf_counter()
        build(path, args.records)
        built = time.perf_counter() - started
        print(f"built and sealed {args.records:,} records in {built:.0f} s")
        results = measure(path, args.records)
    load_after = os.getloadavg()[0]
    section = "\n".join(
        [
            "",
            f"## Audit search ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
            "",
            f"Machine: {cpu_model()}, {os.cpu_count()} cores; Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}; load {load_before:.1f} before, {load_after:.1f} after; "
            f"command `python bench/audit_search_bench.py`. {args.records:,} sealed records (built in "
            f"{built:.0f} s); pages of 100 by keyset cursor, median of 5; the deep page starts half-way "
            "through the matches. Target: every page under 100 ms.",
            "",
            "| search | first page | deep page | records on the first page |",
            "| --- | --- | --- | --- |",
            *(f"| {row[0]} | {row[1]:.1f} ms | {row[2]:.1f} ms | {row[3]} |" for row in results),
            "",
        ]
    )
    write_section(section, args.out)


if __name__ == "__main__":
    main()
