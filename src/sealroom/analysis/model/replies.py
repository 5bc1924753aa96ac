"""Reading a model's reply: find the JSON object, check it against the task's schema, clean its text.

A model's words are untrusted data. Control characters (terminal escapes, bidirectional overrides)
are removed from every string so a reply cannot repaint a terminal or disguise text where it is
shown; strings are bounded in length.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sealroom.analysis.tasks import validation_problems

MAX_STRING_CHARS = 20_000
MAX_REPLY_CHARS = 200_000
_INVISIBLE = frozenset(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"  # bidirectional overrides
    "\u200b\u2060\ufeff\u00ad"  # zero-width space, word joiner, BOM, soft hyphen: split a value unseen
)
_FENCE = re.compile(r"^\s*```[a-zA-Z0-9_-]*\s*\n(?P<body>.*?)\n?\s*```\s*$", re.DOTALL)


@dataclass
class ParsedReply:
    """A reply read against a schema: ``value`` when it is valid, otherwise the ``problems``."""

    value: dict[str, Any] | None
    problems: list[str] = field(default_factory=list)


def clean_text(text: str) -> str:
    """``text`` in NFKC form without control characters (newlines and tabs kept), bidirectional
    overrides or invisible separators, at most ``MAX_STRING_CHARS`` long."""
    # NFKC folds look-alikes (full-width digits, ligatures) so masking recognises what they spell.
    folded = unicodedata.normalize("NFKC", text)
    kept = [
        char for char in folded
        if char in "\n\t"
        or (unicodedata.category(char) not in ("Cc", "Cs", "Co") and char not in _INVISIBLE)
    ]
    return "".join(kept)[:MAX_STRING_CHARS]


def clean(value: Any) -> Any:
    """A copy of a JSON value with every string (keys included) passed through ``clean_text``."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, Mapping):
        return {clean_text(str(key)): clean(item) for key, item in value.items()}
    if isinstance(value, list):
        return [clean(item) for item in value]
    return value


def _json_object(text: str) -> Any:
    """The JSON value in ``text``: the whole text, a fenced block, or the outermost ``{...}``."""
    candidates = [text.strip()]
    if match := _FENCE.match(text):
        candidates.append(match.group("body").strip())
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start:end + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate, parse_constant=_no_constants)  # no NaN or Infinity
        except ValueError:
            continue
    raise ValueError("not JSON")


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_reply(text: str, schema: Mapping[str, Any], max_chars: int = MAX_REPLY_CHARS) -> ParsedReply:
    """Read the reply as one JSON object and check it against ``schema``.

    A reply longer than ``max_chars`` is refused before parsing: checking a huge reply against a
    schema can cost far more than reading it.
    """
    if not text.strip():
        return ParsedReply(None, ["the reply was empty"])
    if len(text) > max_chars:
        return ParsedReply(None, [f"the reply was over {max_chars:,} characters"])
    try:
        value = _json_object(text)
    except ValueError:
        return ParsedReply(None, ["the reply was not valid JSON"])
    if not isinstance(value, dict):
        return ParsedReply(None, ["the reply was JSON but not an object"])
    value = clean(value)
    problems = validation_problems(schema, value)
    return ParsedReply(None if problems else value, problems)
