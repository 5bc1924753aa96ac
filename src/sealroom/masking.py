"""Output masking: a result is masked for the caller's role before it is delivered.

Engines return clear values; this module turns an ``AnalysisResult`` into the dict a caller receives.
Only a role allowed ``pii:view_unmasked`` gets the values in clear; everyone else gets every entity
masked wherever it appears: in the entity list, in each page's text (and so in the joined text) and
in the extracted fields.

The page text is masked in one pass over merged spans: the entities' own offsets, plus every other
occurrence of a sensitive value (an entity's text, or a personal-data field's value) found by search,
so a value an engine reported with wrong or missing offsets is still hidden. Where spans of several
values overlap, the merged span is masked by the type of a span covering all of it if that mask shows
none of the values inside, and otherwise completely, keeping nothing of any of them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sealroom.analysis.models import AnalysisResult, Entity, PageText

MASK = "*"
MAX_FULL_MASK = 8
"""A fully masked value of an unknown type is at most this many ``*``: its length is not revealed."""
MIN_SEARCH_LENGTH = 4
"""Sensitive values at least this long are also searched for (and masked) wherever they occur."""
KEEP_TAIL_DIGITS = 4

_ID_WORDS = (
    "ACCOUNT", "IBAN", "ROUTING", "ABA", "BANK", "MRN", "MEDICAL", "MEMBER", "NPI", "DEA", "LICENSE",
    "LICENCE", "PASSPORT", "NUMBER", "TAX", "EIN", "ITIN", "NHS", "INSURANCE", "POLICY", "VIN", "DRIVER",
    "SWIFT", "BIC", "HEALTH", "BENEFICIARY", "NATIONAL", "CHECK", "CHEQUE",
)


def _kind(entity_type: str) -> str:
    """Map an entity type name (``US_SSN``, ``CREDIT_CARD``, ``MRN``...) to a masking style."""
    name = re.sub(r"[^A-Z0-9]+", "_", entity_type.upper())
    words = set(name.split("_"))
    if "SSN" in words or "SOCIAL" in words:
        return "ssn"
    if "CARD" in words or "CREDIT" in words or name == "PAN":
        return "card"
    if "EMAIL" in words or "MAIL" in words:
        return "email"
    if words & {"PHONE", "FAX", "TEL", "TELEPHONE", "MOBILE"}:
        return "phone"
    if words & {"DATE", "DOB", "BIRTH", "BIRTHDATE", "TIME", "DATETIME"}:
        return "date"
    if words & {"IP", "URL", "URI", "MAC"}:
        return "full"
    if words & {"PERSON", "NAME", "PATIENT", "PHYSICIAN", "PER"}:
        return "person"
    if words & {"ADDRESS", "STREET", "ZIP", "POSTAL", "POSTCODE"}:
        return "address"
    if words & {"LOCATION", "LOC", "CITY", "GPE", "STATE", "COUNTRY"}:
        return "location"
    if "ID" in words or words & set(_ID_WORDS) or any(word in name for word in ("IBAN", "MRN")):
        return "id"
    return "full"


def _full(value: str) -> str:
    """Every character masked; the length is capped so it is not revealed."""
    return MASK * min(len(value), MAX_FULL_MASK)


def _mask_alnum(value: str) -> str:
    """Every letter and digit masked; separators (spaces, dashes, slashes...) kept."""
    return "".join(MASK if char.isalnum() else char for char in value)


def _keep_last_digits(value: str, keep: int = KEEP_TAIL_DIGITS) -> str:
    """Mask letters and digits except the last ``keep`` digits (never more than half of them)."""
    digits = sum(char.isdigit() for char in value)
    keep = min(keep, digits // 2)
    out: list[str] = []
    for char in reversed(value):
        if char.isdigit() and keep > 0:
            out.append(char)
            keep -= 1
        elif char.isalnum():
            out.append(MASK)
        else:
            out.append(char)
    return "".join(reversed(out))


def _digits(value: str) -> str:
    return "".join(char for char in value if char.isdigit())


def _reformattable(value: str) -> bool:
    """Digits with spaces or dashes between them: safe to print in a standard layout."""
    return re.fullmatch(r"\d[\d\s-]*\d", value) is not None


def _mask_ssn(value: str) -> str:
    digits = _digits(value)
    if len(digits) == 9 and _reformattable(value):
        return f"***-**-{digits[-4:]}"
    return _keep_last_digits(value)


def _mask_card(value: str) -> str:
    digits = _digits(value)
    if not 12 <= len(digits) <= 19 or not _reformattable(value):
        return _keep_last_digits(value)
    masked = MASK * (len(digits) - 4) + digits[-4:]
    head = len(masked) % 4
    groups = ([masked[:head]] if head else []) + [masked[i:i + 4] for i in range(head, len(masked), 4)]
    return " ".join(groups)


def _mask_person(value: str) -> str:
    words = [word for word in re.split(r"[\s,]+", value) if word]
    initials = [f"{word[0]}***" for word in words if word[0].isalnum()]
    return " ".join(initials) if initials else _full(value)


def _mask_email(value: str) -> str:
    local, at, domain = value.rpartition("@")
    if not at or not local:
        return _full(value)
    tld = domain.rsplit(".", 1)[1] if "." in domain else ""
    tld_part = f".{tld}" if tld.isalpha() and len(tld) <= 6 else ""
    return f"{local[0]}***@***{tld_part}"


def _mask_date(value: str) -> str:
    if re.fullmatch(r"[\d\s./:-]+", value):
        return _mask_alnum(value)
    return "**/**/****"


def mask_value(entity_type: str, value: str) -> str:
    """Mask one value according to its entity type.

    ``US_SSN`` → ``***-**-6789``; cards → ``**** **** **** 1111``; account, IBAN, routing, MRN,
    member and other ID numbers keep their last 4 digits (at most half of the digits) and their
    separators; people → initials (``J*** D***``); dates → ``**/**/****``; e-mail → ``j***@***.com``;
    phone numbers keep their last 2 digits; addresses → ``[ADDRESS]``; anything else is fully masked.
    """
    if not value:
        return value
    kind = _kind(entity_type)
    if kind == "ssn":
        return _mask_ssn(value)
    if kind == "card":
        return _mask_card(value)
    if kind == "id":
        return _keep_last_digits(value)
    if kind == "person":
        return _mask_person(value)
    if kind == "email":
        return _mask_email(value)
    if kind == "phone":
        return _keep_last_digits(value, 2)
    if kind == "date":
        return _mask_date(value)
    if kind == "address":
        return "[ADDRESS]"
    if kind == "location":
        return "[LOCATION]"
    return _full(value)


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    entity_type: str


def _sensitive_terms(result: AnalysisResult) -> list[tuple[str, str]]:
    """``(value, entity_type)`` for every value to hunt for in the text, longest first."""
    terms = {entity.text: entity.type for entity in result.entities if len(entity.text) >= MIN_SEARCH_LENGTH}
    for item in result.fields:
        if item.entity_type and len(item.value) >= MIN_SEARCH_LENGTH:
            terms.setdefault(item.value, item.entity_type)
    return sorted(terms.items(), key=lambda term: -len(term[0]))


def _page_spans(text: str, page: int, entities: list[Entity], terms: list[tuple[str, str]]) -> list[_Span]:
    spans = [
        _Span(entity.start, entity.end, entity.type)
        for entity in entities
        if entity.page == page and entity.start is not None and entity.end is not None
        and 0 <= entity.start < entity.end <= len(text)
    ]
    for value, entity_type in terms:
        for match in re.finditer(re.escape(value), text, flags=re.IGNORECASE):
            spans.append(_Span(match.start(), match.end(), entity_type))
    return spans


def _merge(spans: list[_Span]) -> list[tuple[int, int, list[_Span]]]:
    """Group overlapping spans: ``(start, end, members)`` in text order, groups disjoint."""
    groups: list[tuple[int, int, list[_Span]]] = []
    for span in sorted(spans, key=lambda item: (item.start, -item.end)):
        if groups and span.start < groups[-1][1]:
            start, end, members = groups[-1]
            groups[-1] = (start, max(end, span.end), [*members, span])
        else:
            groups.append((span.start, span.end, [span]))
    return groups


def _mask_group(text: str, start: int, end: int, members: list[_Span]) -> str:
    """Mask a merged group: by the type of a span covering it all, unless that would show a member."""
    clear = text[start:end]
    for outer in members:
        if (outer.start, outer.end) != (start, end):
            continue
        masked = mask_value(outer.entity_type, clear)
        inner = {text[member.start:member.end].casefold() for member in members}
        if not any(value in masked.casefold() for value in inner):
            return masked
    return _mask_alnum(clear)


def _mask_text(text: str, spans: list[_Span]) -> tuple[str, list[tuple[int, int, int, int]]]:
    """Mask the spans; return the text and ``(old_start, old_end, new_start, new_end)`` per group."""
    pieces: list[str] = []
    moves: list[tuple[int, int, int, int]] = []
    position = 0
    length = 0
    for start, end, members in _merge(spans):
        pieces.append(text[position:start])
        length += start - position
        masked = _mask_group(text, start, end, members)
        pieces.append(masked)
        moves.append((start, end, length, length + len(masked)))
        length += len(masked)
        position = end
    pieces.append(text[position:])
    return "".join(pieces), moves


def _mask_field_value(value: str, entity_type: str | None, result: AnalysisResult) -> str:
    """A personal-data field is masked whole; any other field has the sensitive values inside it masked."""
    if entity_type:
        return mask_value(entity_type, value)
    candidates = [(entity.text, entity.type) for entity in result.entities]
    candidates += [(item.value, item.entity_type) for item in result.fields if item.entity_type]
    spans = [
        _Span(match.start(), match.end(), kind)
        for text, kind in candidates
        if text and (len(text) >= 2 or text == value)
        for match in re.finditer(re.escape(text), value, flags=re.IGNORECASE)
    ]
    return _mask_text(value, spans)[0] if spans else value


def _moved_offset(position: int, moves: list[tuple[int, int, int, int]], *, at_end: bool) -> int:
    """Where ``position`` of the clear text lands in the masked text; inside a masked group it moves
    to the group's edge (its end for a region's end, its start otherwise), so no clear part is cut."""
    shift = 0
    for old_start, old_end, new_start, new_end in moves:
        if position <= old_start:
            break
        if position < old_end:
            return new_end if at_end else new_start
        shift = new_end - old_end
    return position + shift


def _regions(page: PageText, text: str, moves: list[tuple[int, int, int, int]]) -> list[dict[str, Any]]:
    """The page's regions as delivered: each bbox with its (masked) text."""
    delivered = []
    for region in page.regions:
        start = _moved_offset(region.start, moves, at_end=False)
        end = _moved_offset(region.end, moves, at_end=True)
        delivered.append({"bbox": list(region.bbox), "text": text[start:end]})
    return delivered


def mask_result(result: AnalysisResult, unmasked: bool) -> dict[str, Any]:
    """The JSON-ready dict delivered to a caller; masked unless ``unmasked`` (``pii:view_unmasked``)."""
    if unmasked:
        data = result.to_dict()
        for page, page_data in zip(result.pages, data["pages"], strict=True):
            page_data["regions"] = _regions(page, page.text, [])
        data["masked"] = False
        return data
    data = result.to_dict()  # a deep copy (``dataclasses.asdict``): the result itself is not changed
    terms = _sensitive_terms(result)
    page_moves: dict[int, list[tuple[int, int, int, int]]] = {}
    for page, page_data in zip(result.pages, data["pages"], strict=True):
        spans = _page_spans(page.text, page.index, result.entities, terms)
        page_data["text"], page_moves[page.index] = _mask_text(page.text, spans)
        page_data["regions"] = _regions(page, page_data["text"], page_moves[page.index])
    for entity, entity_data in zip(result.entities, data["entities"], strict=True):
        entity_data["text"] = mask_value(entity.type, entity.text)
        entity_data["start"], entity_data["end"] = _moved(entity, page_moves.get(entity.page, []))
    for item, field_data in zip(result.fields, data["fields"], strict=True):
        field_data["value"] = _mask_field_value(item.value, item.entity_type, result)
    data["text"] = "\f".join(page_data["text"] for page_data in data["pages"])
    if result.answer is not None:
        data["answer"] = _mask_field_value(result.answer, None, result)
    if result.data is not None:
        typed = {item.name: item.entity_type for item in result.fields}
        data["data"] = _mask_data(result.data, "", typed, result)
    data["masked"] = True
    return data


def _mask_data(value: Any, path: str, typed: dict[str, str | None], result: AnalysisResult) -> Any:
    """Mask extracted data leaf by leaf: a leaf the schema marks as personal data is masked whole
    (by its path's field), any other text leaf has the sensitive values inside it masked."""
    if isinstance(value, dict):
        return {
            key: _mask_data(item, f"{path}.{key}" if path else str(key), typed, result)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_mask_data(item, f"{path}[{i}]", typed, result) for i, item in enumerate(value)]
    if value is None or isinstance(value, bool):
        return value
    entity_type = typed.get(path)
    if entity_type:
        return mask_value(entity_type, str(value))
    text = value if isinstance(value, str) else json.dumps(value)
    masked = _mask_field_value(text, None, result)
    return value if masked == text else masked  # a number holding personal data becomes masked text


def _moved(entity: Entity, moves: list[tuple[int, int, int, int]]) -> tuple[int | None, int | None]:
    """The entity's offsets in the masked page text: those of the masked span that covers it."""
    if entity.start is None or entity.end is None:
        return None, None
    for old_start, old_end, new_start, new_end in moves:
        if old_start <= entity.start and entity.end <= old_end:
            return new_start, new_end
    return None, None
