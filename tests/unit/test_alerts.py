"""Alert delivery: webhook (signed JSON) and syslog (RFC 5424 over UDP and TCP), retries, never
blocking the caller, and every outcome in the audit log."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Literal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from tests.receivers import SyslogReceiver, WebhookReceiver, parse_rfc5424

from sealroom import alerts as alerts_module
from sealroom.alerts import Alert, AlertDispatcher, AlertStatus, format_rfc5424
from sealroom.audit.log import AuditLog
from sealroom.clock import ManualClock
from sealroom.config import AlertSettings
from sealroom.db.models import AuditEvent

SECRET_ENV = "SEALROOM_TEST_WEBHOOK_KEY"
SECRET = "hook-signing-key-0123456789"
Make = Callable[..., AlertDispatcher]
RAISED = datetime(2030, 1, 7, 9, 0, 0, 123000, tzinfo=UTC)


def _alert(**fields: str | None) -> Alert:
    return Alert(
        kind="break_glass",
        severity="alert",
        summary="Break-glass emergency access taken on data set clinical-records; review it",
        fields={"break_glass_id": "b" * 32, "user": "sam", "case_id": "ENC-1", **fields},
        id="a" * 32,
        raised_at=RAISED,
    )


class Results:
    """Collects what ``on_result`` was told."""

    def __init__(self) -> None:
        self.seen: list[AlertStatus] = []

    def __call__(self, status: AlertStatus) -> None:
        self.seen.append(status)


@pytest.fixture
def make(db_factory: sessionmaker[Session], clock: ManualClock) -> Iterator[Make]:
    made: list[AlertDispatcher] = []

    def build(**settings: object) -> AlertDispatcher:
        dispatcher = AlertDispatcher(
            AlertSettings.model_validate(settings), db_factory, AuditLog(b"k" * 32, clock), clock
        )
        made.append(dispatcher)
        return dispatcher

    yield build
    for dispatcher in made:
        dispatcher.close()


def _deliveries(db_factory: sessionmaker[Session]) -> list[AuditEvent]:
    with db_factory() as db:
        return list(
            db.scalars(
                select(AuditEvent).where(AuditEvent.action == "alert.deliver").order_by(AuditEvent.seq)
            )
        )


def test_webhook_gets_signed_json_and_success_is_audited(
    make: Make, db_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    results = Results()
    with WebhookReceiver() as hook:
        dispatcher = make(webhook_url=hook.url, webhook_secret_env=SECRET_ENV)
        dispatcher.send(_alert(), on_result=results)
        assert dispatcher.flush(10)

    assert results.seen == ["delivered"]
    [request] = hook.requests
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["x-sealroom-signature"], expected)
    assert request.headers["content-type"] == "application/json"
    assert request.json == {
        "source": "sealroom",
        "id": "a" * 32,
        "kind": "break_glass",
        "severity": "alert",
        "summary": "Break-glass emergency access taken on data set clinical-records; review it",
        "raised_at": "2030-01-07T09:00:00.123Z",
        "fields": {"break_glass_id": "b" * 32, "user": "sam", "case_id": "ENC-1"},
    }
    [event] = _deliveries(db_factory)
    assert (event.category, event.outcome, event.actor) == ("admin", "success", "system:alerts")
    assert event.details == {
        "alert_id": "a" * 32,
        "kind": "break_glass",
        "sink": "webhook",
        "attempts": 1,
        "status_code": 200,
        "errors": [],
    }
    assert SECRET not in json.dumps(event.details)


def test_webhook_error_is_retried_then_failed_and_audited(
    make: Make, db_factory: sessionmaker[Session]
) -> None:
    results = Results()
    with WebhookReceiver() as hook:
        hook.status = 503
        dispatcher = make(webhook_url=hook.url)
        dispatcher.send(_alert(), on_result=results)
        assert dispatcher.flush(10)

    assert len(hook.requests) == alerts_module.ATTEMPTS
    assert "x-sealroom-signature" not in hook.requests[0].headers  # no secret configured: unsigned
    assert results.seen == ["failed"]
    [event] = _deliveries(db_factory)
    assert (event.outcome, event.reason) == ("failure", "http_status")
    assert event.details["attempts"] == alerts_module.ATTEMPTS
    assert event.details["status_code"] == 503


def test_a_client_error_is_not_retried(make: Make, db_factory: sessionmaker[Session]) -> None:
    with WebhookReceiver() as hook:
        hook.status = 403
        dispatcher = make(webhook_url=hook.url)
        dispatcher.send(_alert())
        assert dispatcher.flush(10)
    assert len(hook.requests) == 1
    assert _deliveries(db_factory)[0].details["attempts"] == 1


def test_receiver_down_fails_with_connection_error(make: Make, db_factory: sessionmaker[Session]) -> None:
    hook = WebhookReceiver().start()
    hook.stop()
    results = Results()
    dispatcher = make(webhook_url=hook.url)
    dispatcher.send(_alert(), on_result=results)
    assert dispatcher.flush(10)
    assert results.seen == ["failed"]
    [event] = _deliveries(db_factory)
    assert event.reason == "connection_error"
    assert event.details["errors"] == ["connection_error"] * alerts_module.ATTEMPTS


def test_a_missing_signing_key_fails_the_webhook_instead_of_sending_unsigned(
    make: Make, db_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    results = Results()
    with WebhookReceiver() as hook:
        dispatcher = make(webhook_url=hook.url, webhook_secret_env=SECRET_ENV)
        assert any(SECRET_ENV in problem for problem in dispatcher.configuration_problems())
        dispatcher.send(_alert(), on_result=results)
        assert dispatcher.flush(10)
    assert hook.requests == []
    assert results.seen == ["failed"]
    [event] = _deliveries(db_factory)
    assert (event.reason, event.details["attempts"]) == ("webhook_secret_missing", 1)


def test_a_slow_receiver_times_out_and_send_never_waits(
    make: Make, db_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(alerts_module, "QUEUE_SIZE", 1)
    first, second, third = Results(), Results(), Results()
    with WebhookReceiver() as hook:
        hook.release.clear()
        dispatcher = make(webhook_url=hook.url, timeout_seconds=0.3)
        dispatcher.send(_alert(), on_result=first)
        hook.wait_for(1)  # the worker holds the first alert: the queue (size 1) is empty again
        dispatcher.send(_alert(), on_result=second)
        dispatcher.send(_alert(), on_result=third)  # the queue is full: refused at once
        assert third.seen == ["failed"]
        assert first.seen == [] and second.seen == []  # the caller was not held up
        # Once the second alert's first request is in, every attempt at the first one has timed out.
        hook.wait_for(alerts_module.ATTEMPTS + 1, timeout=20)
        hook.release.set()
        assert dispatcher.flush(20)
    assert (first.seen, second.seen) == (["failed"], ["delivered"])
    events = _deliveries(db_factory)
    assert events[0].reason == "queue_full" and events[0].details["sink"] is None
    assert events[1].details["errors"] == ["timeout"] * alerts_module.ATTEMPTS
    assert events[2].outcome == "success"


def test_no_sink_configured_is_audited_and_reported(make: Make, db_factory: sessionmaker[Session]) -> None:
    results = Results()
    dispatcher = make()
    dispatcher.send(_alert(), on_result=results)
    assert results.seen == ["not_configured"]
    [event] = _deliveries(db_factory)
    assert (event.outcome, event.reason) == ("failure", "no_sink_configured")
    assert dispatcher.configuration_problems()


def test_alerts_after_close_are_refused_and_audited(make: Make, db_factory: sessionmaker[Session]) -> None:
    results = Results()
    with WebhookReceiver() as hook:
        dispatcher = make(webhook_url=hook.url)
        dispatcher.send(_alert())
        dispatcher.close()
        assert len(hook.requests) == 1  # close waited for the alert in flight
        dispatcher.send(_alert(), on_result=results)
    assert results.seen == ["failed"]
    assert _deliveries(db_factory)[-1].reason == "dispatcher_closed"


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_syslog_gets_an_rfc5424_message(
    make: Make, db_factory: sessionmaker[Session], transport: Literal["udp", "tcp"]
) -> None:
    results = Results()
    with SyslogReceiver(transport) as syslog:
        dispatcher = make(syslog=syslog.target)
        dispatcher.send(_alert(), on_result=results)
        assert dispatcher.flush(10)
        [raw] = syslog.wait_for(1)
    assert syslog.framing_errors == []
    if transport == "tcp":
        assert syslog.raw == [b"%d " % len(raw) + raw]  # octet counting, RFC 6587
    message = parse_rfc5424(raw)
    assert (message.facility, message.severity, message.version) == (10, 1, 1)
    assert raw.startswith(b"<81>1 2030-01-07T09:00:00.123Z ")
    assert (message.app_name, message.msgid) == ("sealroom", "break_glass")
    assert message.procid.isdigit()
    assert message.structured_data == {
        "sealroom@32473": {
            "alert_id": "a" * 32,
            "kind": "break_glass",
            "break_glass_id": "b" * 32,
            "user": "sam",
            "case_id": "ENC-1",
        }
    }
    assert message.msg == b"Break-glass emergency access taken on data set clinical-records; review it"
    assert results.seen == ["delivered"]
    [event] = _deliveries(db_factory)
    assert (event.outcome, event.details["sink"], event.details["status_code"]) == ("success", "syslog", None)


def test_syslog_to_a_closed_tcp_port_fails(make: Make, db_factory: sessionmaker[Session]) -> None:
    with SyslogReceiver("tcp") as syslog:
        target = syslog.target
    results = Results()
    dispatcher = make(syslog=target)
    dispatcher.send(_alert(), on_result=results)
    assert dispatcher.flush(10)
    assert results.seen == ["failed"]
    assert _deliveries(db_factory)[0].reason == "connection_error"


def test_both_sinks_one_down_still_counts_as_delivered(make: Make, db_factory: sessionmaker[Session]) -> None:
    results = Results()
    hook = WebhookReceiver().start()
    hook.stop()
    with SyslogReceiver("udp") as syslog:
        dispatcher = make(webhook_url=hook.url, syslog=syslog.target)
        dispatcher.send(_alert(), on_result=results)
        assert dispatcher.flush(10)
        syslog.wait_for(1)
    assert results.seen == ["delivered"]
    outcomes = {event.details["sink"]: event.outcome for event in _deliveries(db_factory)}
    assert outcomes == {"webhook": "failure", "syslog": "success"}


def test_structured_data_values_and_names_are_escaped() -> None:
    alert = _alert(user='x"] [evil@1 a="b', **{"bad name=": "\\ok"}, empty=None)
    raw = format_rfc5424(alert, hostname="host with space", procid="42")
    message = parse_rfc5424(raw)
    params = message.structured_data["sealroom@32473"]
    assert params["user"] == 'x"] [evil@1 a="b'  # one parameter, not a second element
    assert params["bad_name_"] == "\\ok"
    assert "empty" not in params
    assert list(message.structured_data) == ["sealroom@32473"]
    assert message.hostname == "hostwithspace"


def test_a_non_ascii_summary_is_sent_as_utf8_with_a_bom() -> None:
    alert = Alert(kind="break_glass", severity="critical", summary="Notfallzugriff: Überprüfung", fields={})
    raw = format_rfc5424(alert, hostname="h", procid="1")
    message = parse_rfc5424(raw)
    assert message.severity == 2 and message.timestamp == "-"
    assert message.msg == "\ufeffNotfallzugriff: Überprüfung".encode()
