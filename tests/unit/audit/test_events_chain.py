"""The event vocabulary's guards and the canonical form / seal of a record."""

from __future__ import annotations

import hmac
import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealroom.audit.chain import (
    GENESIS_MAC,
    Sealer,
    canonical_details,
    canonical_record,
    canonical_text,
    compute_mac,
    format_ts,
    parse_ts,
)
from sealroom.audit.events import AuditRecord, AuditRecordError, Category, Outcome, check_details


def make(**fields: Any) -> AuditRecord:
    values: dict[str, Any] = {
        "category": "image",
        "action": "image.open",
        "outcome": "success",
        "actor": "sam",
    }
    return AuditRecord(**(values | fields))


@pytest.mark.parametrize(
    "details",
    [
        {"image": b"\x89PNG\r\n"},
        {"nested": {"deeper": [1, bytearray(b"abc")]}},
        {"view": memoryview(b"pixels")},
    ],
)
def test_bytes_in_details_are_refused(details: dict[str, Any]) -> None:
    with pytest.raises(AuditRecordError, match="raw bytes"):
        make(details=details)


@pytest.mark.parametrize(
    ("details", "message"),
    [
        ({"when": datetime(2030, 1, 1, tzinfo=UTC)}, "has type datetime"),
        ({"set": {1, 2}}, "has type set"),
        ({"n": math.nan}, "not a finite number"),
        ({"n": math.inf}, "not a finite number"),
        ({1: "x"}, "non-string key"),
        ({"password": "hunter2"}, "names a secret"),
        ({"Token": "abc"}, "names a secret"),
        ({"text": "x" * 5000}, "characters long"),
        ({"preview": "data:image/png;base64,iVBOR"}, "data URL"),
        ({"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {"j": 1}}}}}}}}}}, "nest deeper"),
    ],
)
def test_details_that_are_not_small_json_are_refused(details: dict[Any, Any], message: str) -> None:
    with pytest.raises(AuditRecordError, match=message):
        make(details=details)


def test_valid_details_are_copied_as_plain_json() -> None:
    source = {"pages": 2, "ratio": 0.5, "ok": True, "none": None, "ids": ("a", "b"), "sub": {"x": [1, 2]}}
    record = make(details=source)
    assert record.details == {
        "pages": 2,
        "ratio": 0.5,
        "ok": True,
        "none": None,
        "ids": ["a", "b"],
        "sub": {"x": [1, 2]},
    }
    source["pages"] = 99
    assert record.details["pages"] == 2
    assert check_details(None) == {}


@pytest.mark.parametrize(
    "fields",
    [
        {"category": "gossip"},
        {"outcome": "maybe"},
        {"action": "Image Open"},
        {"action": "image..open"},
        {"action": "a" * 65},
        {"actor": ""},
        {"actor": "x" * 129},
        {"session_id": "s" * 33},
        {"reason": "r" * 3000},
    ],
)
def test_malformed_records_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(AuditRecordError):
        make(**fields)


def test_enums_are_coerced_from_strings() -> None:
    record = make(category="access", outcome="deny")
    assert record.category is Category.ACCESS
    assert record.outcome is Outcome.DENY


def test_timestamps_are_canonical_utc_with_microseconds() -> None:
    local = datetime(2030, 1, 7, 10, 0, 0, 5, tzinfo=timezone(timedelta(hours=1)))
    text = format_ts(local)
    assert text == "2030-01-07 09:00:00.000005Z"
    assert parse_ts(text) == local
    assert format_ts(datetime(2030, 1, 7, tzinfo=UTC)) == "2030-01-07 00:00:00.000000Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        format_ts(datetime(2030, 1, 7))


optional_text = st.none() | st.text(max_size=40)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    seq=st.integers(min_value=1, max_value=2**62),
    texts=st.lists(st.text(max_size=40), min_size=5, max_size=5),
    optionals=st.lists(optional_text, min_size=4, max_size=4),
    details=st.dictionaries(st.text(max_size=8), json_values, max_size=5),
)
def test_fast_canonical_text_equals_the_reference_json(
    seq: int, texts: list[str], optionals: list[str | None], details: dict[str, Any]
) -> None:
    event_id, ts, category, action, outcome = texts
    session_id, image_id, case_id, reason = optionals
    record = {
        "seq": seq, "event_id": event_id, "ts": ts, "category": category, "action": action,
        "outcome": outcome, "actor": "actor\u00e9\"\\\n", "session_id": session_id, "image_id": image_id,
        "case_id": case_id, "reason": reason, "details": details,
    }  # fmt: skip
    fast = canonical_text(
        seq, event_id, ts, category, action, outcome, record["actor"], session_id, image_id, case_id, reason,
        canonical_details(details),
    )  # fmt: skip
    assert fast == canonical_record(record)
    assert fast.isascii()
    # details survive an export round trip to the same canonical text
    assert canonical_details(json.loads(json.dumps(details))) == canonical_details(details)


@settings(max_examples=200, deadline=None)
@given(key=st.binary(min_size=16, max_size=200), message=st.binary(max_size=2000))
def test_sealer_is_hmac_sha256(key: bytes, message: bytes) -> None:
    assert Sealer(key).mac_bytes(message) == hmac.digest(key, message, "sha256").hex()


def test_seal_covers_prev_mac_and_canonical_text() -> None:
    key = b"k" * 32
    canonical = canonical_text(1, "e", "2030-01-07 09:00:00.000000Z", "image", "image.open", "success", "sam",
                               None, None, None, None, "{}")  # fmt: skip
    seal = Sealer(key).seal(GENESIS_MAC, canonical)
    assert seal == compute_mac(key, GENESIS_MAC, canonical)
    assert seal == hmac.new(key, (GENESIS_MAC + canonical).encode(), "sha256").hexdigest()
    assert seal != Sealer(key).seal("1" * 64, canonical)
