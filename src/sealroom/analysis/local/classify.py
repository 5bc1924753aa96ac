"""Document type from the words on the page and the entity types found (no model)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

_KEYWORDS: dict[str, tuple[tuple[str, float], ...]] = {
    "clinical": (
        ("patient", 2), ("mrn", 3), ("medical record", 3), ("diagnosis", 2), ("physician", 2),
        ("discharge", 2), ("admission", 2), ("laboratory", 2), ("specimen", 2), ("lab report", 3),
        ("hospital", 2), ("clinic", 1), ("medication", 2), ("npi", 2), ("health plan", 3), ("member id", 2),
        ("copay", 3), ("rxbin", 3), ("pcp", 2), ("radiology", 2), ("prescription", 2), ("dosage", 2),
        ("mg", 0.5), ("reference range", 2), ("history of present illness", 3), ("attending", 1),
        ("protected health information", 3), ("clinical", 2), ("insurance", 1), ("dob", 0.5),
        ("procedure", 1), ("allerg", 2), ("vital signs", 2), ("subscriber", 2), ("health", 1.5),
        ("dependent", 1), ("medical", 1.5), ("rxgrp", 2), ("rxpcn", 2), ("deductible", 2), ("payer", 1),
    ),
    "financial": (
        ("account number", 3), ("routing", 3), ("balance", 2), ("deposit", 2), ("withdrawal", 2),
        ("statement", 1.5), ("bank", 2), ("transaction", 2), ("pay to the", 3), ("order of", 1),
        ("dollars", 2), ("memo", 1), ("credit union", 2), ("fdic", 3), ("iban", 1), ("payment", 1),
        ("invoice", 1.5), ("interest", 1), ("loan", 1.5), ("tax", 1), ("wire", 1), ("ach", 1),
        ("card number", 2), ("sort code", 3),
    ),
    "identity": (
        ("driver license", 4), ("driver's license", 4), ("drivers license", 4), ("driver licence", 4),
        ("passport", 4), ("identity card", 4), ("id card", 3), ("nationality", 3), ("exp", 1), ("iss", 1),
        ("hgt", 3), ("eyes", 2), ("sex", 1), ("class", 0.5), ("donor", 1), ("restrictions", 1.5),
        ("endorsements", 2), ("date of issue", 2), ("place of birth", 2), ("surname", 1.5),
        ("given names", 2),
    ),
    "legal": (
        ("agreement", 3), ("lease", 3), ("landlord", 2), ("tenant", 2), ("hereby", 2), ("herein", 2),
        ("whereof", 3), ("governing law", 3), ("party", 1), ("parties", 2), ("witness", 1.5),
        ("notary", 3), ("court", 2), ("plaintiff", 3), ("defendant", 3), ("attorney", 2), ("contract", 2),
        ("shall", 1), ("terminate", 1), ("indemnif", 2), ("affidavit", 3), ("privileged", 2),
        ("counsel", 1.5), ("jurisdiction", 2), ("clause", 1.5),
    ),
}

_ENTITY_HINTS = {
    "MRN": ("clinical", 3), "NPI": ("clinical", 2), "HEALTH_PLAN_ID": ("clinical", 3),
    "ROUTING_NUMBER": ("financial", 2), "BANK_ACCOUNT": ("financial", 2), "IBAN": ("financial", 1),
    "MRZ": ("identity", 4),
}


IDENTITY_EVIDENCE_CONFIDENCE = 0.97


def classify(
    text: str, entity_types: Iterable[str] = (), *, identity_evidence: bool = False
) -> tuple[str, float]:
    """``(document_type, confidence)``: one of clinical, financial, identity, legal, other.

    ``identity_evidence``: a parsed MRZ or an AAMVA barcode was found, which only identity documents
    carry; the document is ``identity`` whatever its words say.
    """
    if identity_evidence:
        return "identity", IDENTITY_EVIDENCE_CONFIDENCE
    low = text.lower()
    scores: Counter[str] = Counter()
    for kind, words in _KEYWORDS.items():
        for word, weight in words:
            n = len(re.findall(r"(?<![a-z])" + re.escape(word), low))
            if n:
                scores[kind] += weight * min(n, 4) ** 0.5
    for et in set(entity_types):
        if et in _ENTITY_HINTS:
            kind, weight = _ENTITY_HINTS[et]
            scores[kind] += weight
    if not scores:
        return "other", 0.5
    (best, top), *rest = [*scores.most_common(), ("other", 0.0)]
    second = rest[0][1] if rest else 0.0
    if top < 4:
        return "other", round(0.5 + 0.1 * (4 - top) / 4, 2)
    confidence = 0.5 + 0.5 * (top - second) / top
    return best, round(min(confidence, 0.99), 2)
