"""Reasons and justifications must say something visible, and cannot change how they are displayed."""

from __future__ import annotations

import pytest

from sealroom.errors import InputError
from sealroom.statements import clean_statement


def test_visible_text_is_kept_with_white_space_collapsed() -> None:
    assert clean_statement("  covering\tward 4\n tonight ", what="reason", maximum=100) == (
        "covering ward 4 tonight"
    )


@pytest.mark.parametrize("text", ["", "   ", "\u200b\u200b\u200b", "\u202e\u2066\x00\x1b", "\ufeff \u200d"])
def test_text_without_visible_characters_is_refused(text: str) -> None:
    with pytest.raises(InputError, match="reason is empty or unreadable"):
        clean_statement(text, what="reason", maximum=100)


def test_invisible_characters_do_not_count_towards_the_minimum() -> None:
    padded = "short" + "\u200b" * 30
    with pytest.raises(InputError, match="at least 20 visible"):
        clean_statement(padded, what="justification", minimum=20, maximum=2000)
    assert clean_statement("abc\u202edef", what="note", maximum=10) == "abcdef"


def test_overlong_text_is_refused() -> None:
    with pytest.raises(InputError, match="at most 10"):
        clean_statement("x" * 11, what="note", maximum=10)
