"""The seal of the chain: canonical text of a record and its HMAC-SHA256.

``mac(n) = HMAC-SHA256(audit_key, prev_mac(n) || canonical(record n))`` where ``prev_mac(n)`` is the
hex MAC of record ``n-1`` (64 zeros for the first record), ``||`` joins the ASCII texts, and
``canonical`` is the record as JSON with sorted keys, no spaces, ASCII only (``ensure_ascii``)::

    {"action":"image.open","actor":"sam","case_id":"C-7","category":"image",
     "details":"{\\"pages\\":1}","event_id":"9f…","image_id":"a1…","outcome":"success",
     "reason":null,"seq":42,"session_id":"5c…","ts":"2030-01-07 09:00:00.000001Z"}

* ``seq`` is the record's position (an integer), so moving a record breaks its seal;
* ``ts`` is UTC with microseconds, ``YYYY-MM-DD HH:MM:SS.ffffffZ`` (RFC 3339 with a space);
* ``details`` is the *text* of the details object in canonical JSON (sorted keys, no spaces, ASCII),
  embedded as a JSON string, so every variable field is one self-delimiting JSON string token and no
  two different records have the same canonical text.

In Python: ``json.dumps({...fields, "details": canonical_details(details)}, sort_keys=True,
separators=(",", ":"))`` — ``canonical_record`` does exactly that; ``canonical_text`` and the verifier
build the same text field by field because verification runs it hundreds of thousands of times a second.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii
from typing import Any, Final

GENESIS_MAC: Final = "0" * 64
"""``prev_mac`` of the first record."""

RECORD_FIELDS: Final = (
    "action",
    "actor",
    "case_id",
    "category",
    "details",
    "event_id",
    "image_id",
    "outcome",
    "reason",
    "seq",
    "session_id",
    "ts",
)
"""The sealed fields, in canonical (sorted) order."""

CANONICAL_TEMPLATE: Final = (
    '{"action":%s,"actor":%s,"case_id":%s,"category":%s,"details":%s,"event_id":%s,'
    '"image_id":%s,"outcome":%s,"reason":%s,"seq":%d,"session_id":%s,"ts":%s}'
)
"""``RECORD_FIELDS`` in order; every ``%s`` takes a JSON string token or ``null``."""

_enc = encode_basestring_ascii


def canonical_details(details: Any) -> str:
    """Canonical JSON text of a details object (sorted keys, compact, ASCII, finite numbers only)."""
    return json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def format_ts(ts: datetime) -> str:
    """The canonical text of a timestamp: ``YYYY-MM-DD HH:MM:SS.ffffffZ`` in UTC."""
    if ts.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return ts.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds") + "Z"


def parse_ts(text: str) -> datetime:
    """Inverse of ``format_ts``."""
    return datetime.fromisoformat(text.removesuffix("Z")).replace(tzinfo=UTC)


def canonical_text(
    seq: int,
    event_id: str,
    ts: str,
    category: str,
    action: str,
    outcome: str,
    actor: str,
    session_id: str | None,
    image_id: str | None,
    case_id: str | None,
    reason: str | None,
    details_json: str,
) -> str:
    """Canonical text of a record from its fields (``ts`` from ``format_ts``, ``details_json`` canonical)."""
    enc = _enc
    return CANONICAL_TEMPLATE % (
        enc(action),
        enc(actor),
        "null" if case_id is None else enc(case_id),
        enc(category),
        enc(details_json),
        enc(event_id),
        "null" if image_id is None else enc(image_id),
        enc(outcome),
        "null" if reason is None else enc(reason),
        seq,
        "null" if session_id is None else enc(session_id),
        enc(ts),
    )


def canonical_record(record: Mapping[str, Any]) -> str:
    """Canonical text of a record given as a mapping of ``RECORD_FIELDS`` (``details`` as an object).

    This is the reference definition; other keys (``prev_mac``, ``mac``) are ignored.
    """
    fields = {name: record[name] for name in RECORD_FIELDS}
    fields["details"] = canonical_details(record["details"])
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


class Sealer:
    """HMAC-SHA256 with one key, for many short messages.

    This is RFC 2104 HMAC over ``hashlib.sha256``, with the keyed inner and outer hash states computed
    once and copied per message — the same construction as the standard library's ``hmac`` module, but
    about three times faster per message than ``hmac.digest`` under OpenSSL 3, whose per-call set-up
    dominates for records of a few hundred bytes. The constructor checks it against ``hmac.digest``.
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        block = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
        probe = b"sealroom audit sealer self-test"
        if self.mac_bytes(probe) != hmac.digest(key, probe, "sha256").hex():  # pragma: no cover
            raise RuntimeError("the audit HMAC does not match the standard library")

    def keyed_states(self) -> tuple[Any, Any]:
        """The keyed inner and outer SHA-256 states, for loops that inline ``mac_bytes``; copy before use."""
        return self._inner, self._outer

    def mac_bytes(self, message: bytes) -> str:
        """Hex HMAC-SHA256 of ``message``."""
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    def seal(self, prev_mac: str, canonical: str) -> str:
        """Hex MAC of a record: HMAC of ``prev_mac || canonical``."""
        return self.mac_bytes((prev_mac + canonical).encode())


def compute_mac(audit_key: bytes, prev_mac: str, canonical: str) -> str:
    """Hex HMAC-SHA256 of ``prev_mac || canonical`` with the standard library (reference form)."""
    return hmac.digest(audit_key, (prev_mac + canonical).encode(), "sha256").hex()
