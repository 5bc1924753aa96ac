"""Searching the log, and JSONL evidence a third party with the key can check."""

from __future__ import annotations

import hmac
import io
import json
from datetime import datetime, timedelta

import pytest

from sealroom.audit.chain import GENESIS_MAC, canonical_record
from sealroom.audit.export import LINE_FIELDS, export_jsonl, verify_jsonl
from sealroom.audit.query import AuditQuery, iter_records, search

from .conftest import START, Chain


@pytest.fixture
def mixed(chain: Chain) -> Chain:
    chain.add(3, actor="sam", case_id="CASE-1")  # seq 1-3, 09:00:00-02
    chain.add(1, category="access", action="access.decision", outcome="deny", actor="kim", case_id="CASE-2",
              image_id=None, reason="no_grant")  # fmt: skip  # seq 4, 09:00:03
    chain.add(1, category="analysis", action="analysis.run", outcome="success", actor="sam", image_id="img-7")
    chain.add(1, category="authentication", action="login_step", outcome="failure", actor="kim", case_id=None)
    chain.add(1, category="authentication", action="loginxstep", outcome="failure", actor="kim", case_id=None)
    return chain  # 7 records, 09:00:00 .. 09:00:06


def run(chain: Chain, **filters: object) -> list[int]:
    with chain.sessions() as db:
        return [r["seq"] for r in search(db, AuditQuery(**filters))]  # type: ignore[arg-type]


def test_filters(mixed: Chain) -> None:
    assert run(mixed) == [1, 2, 3, 4, 5, 6, 7]
    assert run(mixed, actor="sam") == [1, 2, 3, 5]
    assert run(mixed, image_id="img-7") == [5]
    assert run(mixed, case_id="CASE-2") == [4]
    assert run(mixed, action="access.decision") == [4]
    assert run(mixed, action_prefix="analysis.") == [5]
    assert run(mixed, action_prefix="login_") == [6]  # "_" is literal, not a wildcard
    assert run(mixed, outcome="deny") == [4]
    assert run(mixed, category="authentication", actor="kim") == [6, 7]
    assert run(mixed, since=START + timedelta(seconds=2), until=START + timedelta(seconds=4)) == [3, 4]
    assert run(mixed, after_seq=2, before_seq=6) == [3, 4, 5]
    assert run(mixed, limit=2, offset=1) == [2, 3]
    assert run(mixed, newest_first=True, limit=3) == [7, 6, 5]
    assert run(mixed, actor="nobody") == []


def test_results_are_plain_dicts_with_canonical_fields(mixed: Chain) -> None:
    with mixed.sessions() as db:
        (row,) = search(db, AuditQuery(case_id="CASE-2"))
    assert row["ts"] == "2030-01-07 09:00:03.000000Z"
    assert row["reason"] == "no_grant" and row["outcome"] == "deny" and row["actor"] == "kim"
    assert row["details"] == {"pages": 0, "engine": "local"}
    assert set(row) == set(LINE_FIELDS)


def test_naive_times_are_refused(mixed: Chain) -> None:
    with mixed.sessions() as db, pytest.raises(ValueError, match="timezone-aware"):
        search(db, AuditQuery(since=datetime(2030, 1, 1)))


def test_streaming_honours_limit_offset_and_order(mixed: Chain) -> None:
    with mixed.sessions() as db:
        assert [r["seq"] for r in iter_records(db, AuditQuery(limit=None), batch_size=2)] == [
            1,
            2,
            3,
            4,
            5,
            6,
            7,
        ]
        assert [r["seq"] for r in iter_records(db, AuditQuery(limit=3, offset=2), batch_size=2)] == [3, 4, 5]
        q = AuditQuery(limit=None, newest_first=True, actor="kim")
        assert [r["seq"] for r in iter_records(db, q, batch_size=1)] == [7, 6, 4]


def export(chain: Chain, query: AuditQuery | None = None) -> list[str]:
    out = io.StringIO()
    with chain.sessions() as db:
        count = export_jsonl(db, query or AuditQuery(limit=None), out)
    lines = out.getvalue().splitlines()
    assert count == len(lines)
    return lines


def test_export_round_trip_verifies(mixed: Chain) -> None:
    lines = export(mixed)
    assert len(lines) == 7
    first = json.loads(lines[0])
    assert set(first) == set(LINE_FIELDS) and first["prev_mac"] == GENESIS_MAC
    report = verify_jsonl(lines, mixed.key)
    assert report.ok and report.checked == 7 and report.last_seq == 7
    assert verify_jsonl(export(mixed, AuditQuery(after_seq=3, limit=None)), mixed.key).ok  # an excerpt
    assert verify_jsonl([], mixed.key).ok


def test_a_third_party_can_check_a_line_with_the_documented_recipe(mixed: Chain) -> None:
    for line in export(mixed):
        record = json.loads(line)
        expected = hmac.new(mixed.key, (record["prev_mac"] + canonical_record(record)).encode(), "sha256")
        assert expected.hexdigest() == record["mac"]


def test_tampering_with_the_exported_file_is_named(mixed: Chain) -> None:
    lines = export(mixed)

    edited = list(lines)
    record = json.loads(edited[3])
    record["actor"] = "someone-else"
    edited[3] = json.dumps(record)
    report = verify_jsonl(edited, mixed.key)
    assert not report.ok and report.first_bad_seq == 4 and "edited" in (report.problem or "")

    details = list(lines)
    record = json.loads(details[1])
    record["details"]["pages"] = 42
    details[1] = json.dumps(record)
    assert verify_jsonl(details, mixed.key).first_bad_seq == 2

    deleted = lines[:2] + lines[3:]
    report = verify_jsonl(deleted, mixed.key)
    assert not report.ok and report.first_bad_seq == 3 and report.problem == "record 3 is missing (deleted)"

    swapped = [lines[0], lines[2], lines[1], *lines[3:]]
    assert verify_jsonl(swapped, mixed.key).first_bad_seq == 2

    duplicated = [*lines[:2], lines[1].replace('"actor":', '"actor":"x","actor":', 1), *lines[2:]]
    report = verify_jsonl(duplicated, mixed.key)
    assert not report.ok and "malformed" in (report.problem or "")

    assert not verify_jsonl([*lines, "not json"], mixed.key).ok
    assert verify_jsonl(lines, b"y" * 32).first_bad_seq == 1


def test_a_filtered_export_checks_each_seal(mixed: Chain) -> None:
    lines = export(mixed, AuditQuery(actor="kim", limit=None))
    assert [json.loads(line)["seq"] for line in lines] == [4, 6, 7]
    assert not verify_jsonl(lines, mixed.key).ok  # not contiguous
    assert verify_jsonl(lines, mixed.key, contiguous=False).ok
    record = json.loads(lines[1])
    record["outcome"] = "success"
    tampered = [lines[0], json.dumps(record), lines[2]]
    assert verify_jsonl(tampered, mixed.key, contiguous=False).first_bad_seq == 6
