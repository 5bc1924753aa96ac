"""Free text people give as a reason, justification, purpose or note: cleaned and checked to say something.

Such text is stored (never audited: the log keeps only its length) and shown to approvers and reviewers,
so it must not be made of invisible characters, nor carry control or bidi characters that would change
how it is displayed.
"""

from __future__ import annotations

import unicodedata

from sealroom.errors import InputError


def clean_statement(text: str, *, what: str, minimum: int = 1, maximum: int) -> str:
    """``text`` with control and format characters (zero-width, bidi overrides) removed and runs of
    white space collapsed; ``InputError`` naming ``what`` when fewer than ``minimum`` visible characters
    remain or more than ``maximum`` characters are left."""
    kept = "".join(
        " " if char.isspace() else char
        for char in unicodedata.normalize("NFC", text)
        if char.isspace() or unicodedata.category(char) not in ("Cc", "Cf", "Co", "Cs", "Cn")
    )
    cleaned = " ".join(kept.split())
    visible = sum(1 for char in cleaned if not char.isspace())
    if visible < minimum:
        need = "some text" if minimum == 1 else f"at least {minimum} visible characters"
        raise InputError(f"the {what} is empty or unreadable: give {need}")
    if len(cleaned) > maximum:
        raise InputError(f"the {what} is too long: at most {maximum} characters")
    return cleaned
