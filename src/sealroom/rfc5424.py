"""RFC 5424 syslog messages and RFC 6587 octet-counted framing, shared by alerts and SIEM forwarding.

``format_message`` builds ``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG``: facility 10
(security/authorization), the header fields reduced to printable US-ASCII without spaces, one
structured-data element ``[sealroom@32473 …]`` whose parameter names are cut to 32 safe characters and
whose values are escaped (``\\``, ``"``, ``]``), and MSG preceded by the UTF-8 BOM only when it is not
plain ASCII. ``octet_frame`` prefixes a message with its length for a TCP or TLS stream.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Final

FieldValue = str | int | bool | None

FACILITY: Final = 10  # security/authorization messages (authpriv)
SEVERITIES: Final[Mapping[str, int]] = {
    "emergency": 0, "alert": 1, "critical": 2, "error": 3, "warning": 4, "notice": 5, "info": 6, "debug": 7,
}  # fmt: skip
SD_ID: Final = "sealroom@32473"
"""The structured-data id. 32473 is the enterprise number RFC 5612 reserves for examples and
documentation: Sealroom has no number of its own, and the name part keeps it recognisable."""
APP_NAME: Final = "sealroom"
BOM: Final = b"\xef\xbb\xbf"


def format_message(
    *,
    severity: int,
    timestamp: str | None,
    hostname: str,
    procid: str,
    msgid: str,
    params: Mapping[str, FieldValue],
    msg: str,
) -> bytes:
    """One RFC 5424 message (without transport framing); parameters that are ``None`` are left out.

    ``timestamp`` is RFC 3339 text (``iso`` makes it from a datetime) or ``None`` for the nil value.
    """
    if not 0 <= severity <= 7:
        raise ValueError(f"syslog severity {severity} is not 0-7")
    pri = FACILITY * 8 + severity
    pairs = "".join(
        f' {param_name(name)}="{param_value(value)}"' for name, value in params.items() if value is not None
    )
    sd = f"[{SD_ID}{pairs}]"
    header = (
        f"<{pri}>1 {timestamp or '-'} {header_word(hostname, 255)} {APP_NAME} {header_word(procid, 128)} "
        f"{header_word(msgid, 32)} {sd}"
    )
    text = msg.replace("\n", " ")
    body = text.encode("ascii") if text.isascii() else BOM + text.encode()
    return header.encode() + b" " + body


def octet_frame(message: bytes) -> bytes:
    """``MSG-LEN SP SYSLOG-MSG`` (RFC 6587 §3.4.1, also RFC 5425's framing over TLS)."""
    return b"%d " % len(message) + message


def iso(moment: datetime | None) -> str | None:
    """RFC 3339 UTC time with milliseconds (``2026-03-02T09:00:00.000Z``), or ``None``."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def header_word(value: str, limit: int) -> str:
    """A header field: printable US-ASCII without spaces, at most ``limit`` characters, or ``-``."""
    cleaned = "".join(char for char in value if 33 <= ord(char) <= 126)[:limit]
    return cleaned or "-"


def param_name(name: str) -> str:
    """An SD-NAME: 1-32 printable US-ASCII characters other than ``=``, ``]``, ``"`` and space."""
    return re.sub(r'[^\x21-\x7e]|[="\]]', "_", name)[:32] or "_"


def param_value(value: FieldValue) -> str:
    """A PARAM-VALUE with ``\\``, ``"`` and ``]`` escaped; booleans as ``true``/``false``."""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")
