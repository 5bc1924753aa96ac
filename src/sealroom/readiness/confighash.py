"""The configuration hash a compliance sign-off is bound to.

It is the SHA-256 of the *validated* settings in a canonical JSON form, not of the file's bytes:

* comments, whitespace, key order and quoting in ``sealroom.toml`` do not change it, so tidying the file
  does not void a review;
* every setting does, including ones left at their default (they are filled in before hashing), so a
  change of a default in a new Sealroom version also asks for a new review: what runs has changed.

Nothing is left out except the *password* inside a database URL (the host, port, user and database
stay in): a secret has no business in a value that is shown and recorded, and a rotated database
password does not change what was reviewed. ``SEALROOM_DATABASE_URL`` overrides ``database_url`` before
validation, so the hash covers the database actually in use.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sealroom.config import Settings


def canonical_settings(settings: Settings) -> dict[str, Any]:
    """The settings as plain JSON values, defaults filled in, the database password removed."""
    values = settings.model_dump(mode="json")
    values["database_url"] = _without_password(settings.database_url)
    return values


def config_sha256(settings: Settings) -> str:
    """SHA-256 (hex) of the canonical JSON (sorted keys, no spaces, UTF-8) of ``settings``."""
    text = json.dumps(canonical_settings(settings), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    netloc = f"{parts.username or ''}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
