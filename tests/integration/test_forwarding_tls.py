"""Forwarding over TLS (syslog per RFC 5425, HTTPS webhooks): the receiver's certificate is checked
against the sink's ``ca_bundle`` (or the system's CAs) and its host name; a wrong one gets nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sealroom.forwarding import forwarding_status
from sealroom.workspace import Workspace
from tests.certs import Issued, issue
from tests.forwarding import append_events, new_workspace, sink_toml, syslog_records, webhook_events
from tests.receivers import FramedSyslogReceiver, WebhookReceiver


@pytest.fixture
def certs(tmp_path: Path) -> tuple[Issued, Issued]:
    """The collector's certificate (signed by its CA) and another CA's, as a wrong bundle."""
    folder = tmp_path / "certs"
    folder.mkdir()
    return issue(folder, "collector"), issue(folder, "stranger")


def _workspace(tmp_path: Path, table: str, *bundles: Path) -> Workspace:
    root = new_workspace(tmp_path / "ws", table)
    for bundle in bundles:
        shutil.copy(bundle, root / bundle.name)
    return Workspace.open(root)


def test_a_collector_certificate_not_signed_by_the_configured_ca_is_refused(
    tmp_path: Path, certs: tuple[Issued, Issued]
) -> None:
    collector, stranger = certs
    with FramedSyslogReceiver(tls=collector.server_context()) as receiver:
        table = sink_toml(
            "siem", kind="syslog", url=receiver.target, ca_bundle=stranger.ca.name, timeout_seconds=5
        )
        workspace = _workspace(tmp_path, table, stranger.ca)
        try:
            append_events(workspace, 4)
            [result] = workspace.forwarder.run_once()
            assert result.error == "tls_error" and result.to_seq == 0
            assert receiver.messages == [] and receiver.connections == 0
            with workspace.db() as db:
                [status] = forwarding_status(db, workspace.settings)
            assert status.last_error == "tls_error" and status.state == "failing" and status.last_seq == 0
        finally:
            workspace.close()


def test_without_a_ca_bundle_a_private_ca_is_not_trusted(
    tmp_path: Path, certs: tuple[Issued, Issued]
) -> None:
    collector, _stranger = certs
    with FramedSyslogReceiver(tls=collector.server_context()) as receiver:
        workspace = _workspace(tmp_path, sink_toml("siem", kind="syslog", url=receiver.target))
        try:
            append_events(workspace, 2)
            [result] = workspace.forwarder.run_once()
            assert result.error == "tls_error" and receiver.messages == []
        finally:
            workspace.close()


def test_the_sinks_ca_bundle_is_trusted_and_frames_arrive_over_one_connection(
    tmp_path: Path, certs: tuple[Issued, Issued]
) -> None:
    collector, _stranger = certs
    with FramedSyslogReceiver(tls=collector.server_context()) as receiver:
        table = sink_toml(
            "siem", kind="syslog", url=receiver.target, ca_bundle=collector.ca.name, batch_size=5
        )
        workspace = _workspace(tmp_path, table, collector.ca)
        try:
            append_events(workspace, 12)
            [result] = workspace.forwarder.run_once()
            assert result.sent == 12 and not result.failed
            records = syslog_records(receiver, 12)
            assert [int(r["seq"]) for r in records] == list(range(1, 13))
            assert receiver.connections == 1  # three batches, one connection
        finally:
            workspace.close()


def test_an_unreadable_ca_bundle_is_reported_and_nothing_is_sent(
    tmp_path: Path, certs: tuple[Issued, Issued]
) -> None:
    collector, _stranger = certs
    with FramedSyslogReceiver(tls=collector.server_context()) as receiver:
        table = sink_toml("siem", kind="syslog", url=receiver.target, ca_bundle="missing-ca.pem")
        workspace = _workspace(tmp_path, table)
        try:
            append_events(workspace, 1)
            [result] = workspace.forwarder.run_once()
            assert result.error == "ca_bundle_unreadable" and receiver.connections == 0
            with workspace.db() as db:
                [status] = forwarding_status(db, workspace.settings, root=workspace.root)
            assert any("missing-ca.pem" in problem for problem in status.problems)
        finally:
            workspace.close()


def test_an_https_webhook_is_checked_against_its_ca_bundle(
    tmp_path: Path, certs: tuple[Issued, Issued]
) -> None:
    collector, stranger = certs
    with WebhookReceiver(tls=collector.server_context()) as hook:
        tables = sink_toml("wrong", kind="webhook", url=hook.url, ca_bundle=stranger.ca.name) + sink_toml(
            "right", kind="webhook", url=hook.url, ca_bundle=collector.ca.name
        )
        workspace = _workspace(tmp_path, tables, stranger.ca, collector.ca)
        try:
            append_events(workspace, 3)
            results = {result.sink: result for result in workspace.forwarder.run_once()}
            assert results["wrong"].error == "tls_error"
            assert results["right"].sent == 3
            assert [int(e["seq"]) for e in webhook_events(hook)] == [1, 2, 3]  # only the right one's batch
        finally:
            workspace.close()
