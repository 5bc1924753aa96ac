"""What a sink sends for a record: RFC 5424 messages (severity, structured data, escaping) and JSON
batches, in the ``sealroom`` and ``ocsf`` formats."""

from __future__ import annotations

import json
import ssl
from typing import Any

import httpx
import pytest
from tests.receivers import parse_rfc5424

from sealroom.audit.ocsf import to_ocsf
from sealroom.config import ForwardSinkSettings
from sealroom.forwarding.formats import syslog_message, syslog_severity, webhook_body
from sealroom.forwarding.forwarder import MAX_BACKOFF_SECONDS, backoff_seconds
from sealroom.forwarding.sinks import error_kind, target_of


def _record(**fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "seq": 42, "event_id": "9f" * 16, "ts": "2026-03-02 09:00:00.000001Z", "category": "image",
        "action": "image.open", "outcome": "success", "actor": "sam", "session_id": "5c" * 16,
        "image_id": "a1" * 16, "case_id": "ENC-1", "reason": None, "details": {"pages": 1},
        "prev_mac": "0" * 64, "mac": "1" * 64,
    }  # fmt: skip
    record.update(fields)
    return record


@pytest.mark.parametrize(
    ("fields", "severity"),
    [
        ({}, 6),  # info
        ({"category": "access", "action": "access.decision", "outcome": "allow"}, 5),  # notice
        ({"category": "access", "action": "access.decision", "outcome": "deny"}, 4),  # warning
        ({"category": "admin", "action": "forward.sink.down", "outcome": "failure"}, 4),
        ({"category": "admin", "action": "alert.raise", "details": {"severity": "critical"}}, 2),
        ({"category": "admin", "action": "alert.raise", "details": {"severity": "made-up"}}, 4),
    ],
)
def test_the_severity_follows_the_event(fields: dict[str, Any], severity: int) -> None:
    assert syslog_severity(_record(**fields)) == severity


def test_a_syslog_message_carries_the_record_as_structured_data_and_json() -> None:
    record = _record(reason='a "quoted" ] reason \\ here', case_id=None)
    message = parse_rfc5424(syslog_message(record, "sealroom", hostname="collector host", procid="77"))
    assert (message.facility, message.severity, message.version) == (10, 6, 1)
    assert message.timestamp == "2026-03-02T09:00:00.000001Z"
    assert (message.hostname, message.app_name, message.procid, message.msgid) == (
        "collectorhost", "sealroom", "77", "image.open",
    )  # fmt: skip
    params = message.structured_data["sealroom@32473"]
    assert params == {
        "seq": "42", "event_id": "9f" * 16, "category": "image", "outcome": "success", "actor": "sam",
        "session_id": "5c" * 16, "image_id": "a1" * 16, "reason": 'a "quoted" ] reason \\ here',
    }  # fmt: skip
    assert "case_id" not in params  # absent values are left out
    assert json.loads(message.msg) == record
    assert not message.msg.startswith(b"\xef\xbb\xbf")  # ASCII JSON: no BOM needed


def test_non_ascii_values_are_escaped_in_the_json_and_kept_as_utf8_in_structured_data() -> None:
    record = _record(actor="zoë", details={"note": "naïve"})
    raw = syslog_message(record, "sealroom", hostname="h", procid="1")
    message = parse_rfc5424(raw)
    assert message.structured_data["sealroom@32473"]["actor"] == "zoë"
    assert message.msg.isascii() and json.loads(message.msg)["details"] == {"note": "naïve"}


def test_the_ocsf_format_sends_the_ocsf_event() -> None:
    record = _record()
    message = parse_rfc5424(syslog_message(record, "ocsf", hostname="h", procid="1"))
    event = json.loads(message.msg)
    assert event == json.loads(json.dumps(to_ocsf(record)))
    assert event["metadata"]["uid"] == record["event_id"]  # what receivers dedupe on
    body = json.loads(webhook_body([record, _record(seq=43)], "ocsf"))
    assert body["source"] == "sealroom" and body["format"] == "ocsf"
    assert [e["metadata"]["sequence"] for e in body["events"]] == [42, 43]


def test_a_webhook_body_is_the_records_in_order() -> None:
    body = webhook_body([_record(seq=1), _record(seq=2)], "sealroom")
    assert body.isascii()
    assert json.loads(body) == {
        "source": "sealroom",
        "format": "sealroom",
        "events": [_record(seq=1), _record(seq=2)],
    }


def test_the_target_shows_scheme_host_and_port_only() -> None:
    webhook = ForwardSinkSettings(kind="webhook", url="https://lake.example/ingest/x?token=abc")
    assert target_of(webhook) == "https://lake.example:443"
    syslog = ForwardSinkSettings(kind="syslog", url="tls://[::1]:6514")
    assert target_of(syslog) == "tls://[::1]:6514"


def test_error_words_look_through_wrapped_causes() -> None:
    def wrapped(cause: BaseException) -> BaseException:
        try:
            try:
                raise cause
            except BaseException as inner:
                raise httpx.ConnectError("failed") from inner
        except httpx.ConnectError as outer:
            return outer

    assert error_kind(wrapped(ssl.SSLCertVerificationError("bad cert"))) == "tls_error"
    assert error_kind(wrapped(ConnectionRefusedError())) == "connection_refused"
    assert error_kind(httpx.ReadTimeout("slow")) == "timeout"
    assert error_kind(BrokenPipeError()) == "connection_lost"
    assert error_kind(OSError("other")) == "connection_error"


def test_backoff_doubles_and_is_bounded() -> None:
    assert [backoff_seconds(n) for n in range(5)] == [0.0, 1.0, 2.0, 4.0, 8.0]
    assert backoff_seconds(10_000) == MAX_BACKOFF_SECONDS
