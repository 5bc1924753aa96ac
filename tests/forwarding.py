"""Helpers for the SIEM forwarding tests: sink configuration, audit events to forward, and what the
receivers got, read back into records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sealroom.workspace import Workspace, default_config_text, init_workspace
from tests.receivers import FramedSyslogReceiver, WebhookReceiver, parse_rfc5424


def sink_toml(name: str, **keys: object) -> str:
    """A ``[forwarding.sinks.NAME]`` table."""
    lines = [f"[forwarding.sinks.{name}]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in keys.items()]
    return "\n".join(lines) + "\n"


def configure(root: Path, *tables: str, poll_seconds: float | None = None) -> None:
    """Append sink tables to the workspace's ``sealroom.toml`` (and set ``forwarding.poll_seconds``)."""
    path = root / "sealroom.toml"
    text = path.read_text(encoding="utf-8")
    if poll_seconds is not None:
        text = text.replace(
            "[forwarding]\npoll_seconds = 2\n", f"[forwarding]\npoll_seconds = {poll_seconds}\n"
        )
    path.write_text(text + "\n" + "\n".join(tables), encoding="utf-8")


def new_workspace(folder: Path, *tables: str, database_url: str | None = None) -> Path:
    """A fresh workspace (no users) with the given sink tables, on SQLite or ``database_url``."""
    config = default_config_text()
    if database_url is not None:
        config = config.replace('database_url = "sqlite:///sealroom.db"', f'database_url = "{database_url}"')
    return init_workspace(folder, config + "\n" + "\n".join(tables))


def append_events(
    workspace: Workspace, count: int, *, category: str = "admin", action: str = "test.event"
) -> None:
    """Append ``count`` audit records, each committed on its own, as the workspace's activity would."""
    for number in range(count):
        workspace.audit.append(
            workspace.db, category=category, action=action, outcome="success", actor="operator:test",
            details={"n": number},
        )  # fmt: skip


def head_seq(workspace: Workspace) -> int:
    """The last sequence number of the chain."""
    from sealroom.audit.log import chain_head

    with workspace.db() as db:
        head = chain_head(db)
    return 0 if head is None else head.seq


def syslog_records(receiver: FramedSyslogReceiver, count: int = 0) -> list[dict[str, Any]]:
    """Each received message's MSG as a record (format ``sealroom``), in arrival order, once at least
    ``count`` arrived (TCP has no acknowledgement: the sender may be done before the collector read
    it all); checks that the structured data agrees with the record."""
    records = []
    for raw in receiver.wait_for(count):
        message = parse_rfc5424(raw)
        record = json.loads(message.msg)
        params = message.structured_data["sealroom@32473"]
        assert params["seq"] == str(record["seq"]) and params["event_id"] == record["event_id"]
        records.append(record)
    return records


def webhook_events(receiver: WebhookReceiver, *, answered: int | None = 200) -> list[dict[str, Any]]:
    """The events of every batch received (only those answered ``answered``, unless ``None``)."""
    events: list[dict[str, Any]] = []
    for request in receiver.requests:
        if answered is None or request.answered == answered:
            events.extend(request.json["events"])
    return events


def deduplicated(records: list[dict[str, Any]]) -> list[int]:
    """The seqs of ``records`` in arrival order, a record seen before (same ``event_id``) left out."""
    seen: set[str] = set()
    seqs = []
    for record in records:
        if record["event_id"] not in seen:
            seen.add(record["event_id"])
            seqs.append(int(record["seq"]))
    return seqs
