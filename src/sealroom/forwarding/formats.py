"""What a forwarding sink sends for audit records: the sealed record or its OCSF event, as syslog or JSON.

A *record* here is one audit record as ``sealroom.audit.query.row_to_dict`` returns it: every sealed
field (``ts`` as canonical text ending in ``Z``, ``details`` as an object) plus ``prev_mac`` and
``mac``, exactly the line ``sealroom audit export`` writes, so a receiver holding the audit key can
check each seal. Format ``ocsf`` sends ``sealroom.audit.ocsf.to_ocsf(record)`` instead.

* syslog: one RFC 5424 message per record, facility 10, severity from the event (a denial or a
  failure: warning; ``alert.raise``: the alert's own severity; access, admin and audit events: notice;
  everything else: info), MSGID the action, structured data ``[sealroom@32473 seq=… event_id=…
  category=… outcome=… actor=… session_id=… image_id=… case_id=… reason=…]`` (absent values left
  out) and MSG the JSON text of the record or OCSF event.
* webhook: one JSON body per batch, ``{"events": […], "format": …, "source": "sealroom"}``.

JSON is compact, with sorted keys and ASCII only, so MSG never needs a byte-order mark.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

from sealroom import rfc5424
from sealroom.audit.ocsf import to_ocsf

Record = Mapping[str, Any]
Format = Literal["sealroom", "ocsf"]

SD_FIELDS: Final = (
    "seq", "event_id", "category", "outcome", "actor", "session_id", "image_id", "case_id", "reason",
)  # fmt: skip
"""The record fields copied into the syslog structured data, in this order."""
NOTICE_CATEGORIES: Final = frozenset({"access", "admin", "audit"})
ALERT_ACTION: Final = "alert.raise"


class FormatError(Exception):
    """A record could not be put into the sink's format (``kind`` is a short machine word)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def to_json(value: object) -> str:
    """Compact, key-sorted, ASCII-only JSON text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def event_payload(record: Record, fmt: Format) -> Mapping[str, Any]:
    """The object sent for ``record``: the record itself, or its OCSF event.

    Raises ``FormatError("ocsf_mapping_failed")`` when the OCSF mapping refuses the record.
    """
    if fmt == "sealroom":
        return record
    try:
        return to_ocsf(record)
    except Exception as exc:  # a mapping bug must not look like a receiver problem
        raise FormatError("ocsf_mapping_failed") from exc


def syslog_severity(record: Record) -> int:
    """The RFC 5424 severity of ``record`` (see the module docstring)."""
    if record.get("action") == ALERT_ACTION:
        details = record.get("details")
        named = details.get("severity") if isinstance(details, Mapping) else None
        if isinstance(named, str) and named in rfc5424.SEVERITIES:
            return rfc5424.SEVERITIES[named]
        return rfc5424.SEVERITIES["warning"]
    if record.get("outcome") in ("deny", "failure"):
        return rfc5424.SEVERITIES["warning"]
    if record.get("category") in NOTICE_CATEGORIES:
        return rfc5424.SEVERITIES["notice"]
    return rfc5424.SEVERITIES["info"]


def syslog_timestamp(canonical_ts: str) -> str:
    """The record's canonical time (``2026-03-02 09:00:00.000001Z``) as RFC 3339 (``…T09:00:00.000001Z``)."""
    return canonical_ts.replace(" ", "T", 1)


def syslog_message(record: Record, fmt: Format, *, hostname: str, procid: str) -> bytes:
    """One RFC 5424 message (without framing) for ``record``; raises ``FormatError``."""
    params: dict[str, rfc5424.FieldValue] = {}
    for name in SD_FIELDS:
        value = record.get(name)
        if value is None or isinstance(value, str | int | bool):
            params[name] = value
    ts = record.get("ts")
    return rfc5424.format_message(
        severity=syslog_severity(record),
        timestamp=syslog_timestamp(ts) if isinstance(ts, str) else None,
        hostname=hostname,
        procid=procid,
        msgid=str(record.get("action") or "-"),
        params=params,
        msg=to_json(event_payload(record, fmt)),
    )


def webhook_body(records: Sequence[Record], fmt: Format) -> bytes:
    """The exact bytes of one webhook batch (also what is signed); raises ``FormatError``."""
    events = [event_payload(record, fmt) for record in records]
    return to_json({"source": rfc5424.APP_NAME, "format": fmt, "events": events}).encode("ascii")
