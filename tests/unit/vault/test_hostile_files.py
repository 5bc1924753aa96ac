"""Every hostile file is refused with the right error and a message naming the problem; good files pass."""

from __future__ import annotations

import pytest
from tests.hostile_files import DEFAULT_LIMITS, GOOD_FILES, HOSTILE_FILES, GoodFile, HostileFile

from sealroom.vault.decode import decode_document, inspect_document


@pytest.mark.parametrize("case", HOSTILE_FILES, ids=lambda case: case.name)
def test_hostile_file_is_refused_by_decode(case: HostileFile) -> None:
    with pytest.raises(case.error) as caught:
        decode_document(case.data, DEFAULT_LIMITS)
    assert type(caught.value) is case.error
    assert case.message.lower() in caught.value.message.lower()


@pytest.mark.parametrize("case", HOSTILE_FILES, ids=lambda case: case.name)
def test_hostile_file_is_refused_by_inspect_without_decoding(case: HostileFile) -> None:
    with pytest.raises(case.error) as caught:
        inspect_document(case.data, DEFAULT_LIMITS)
    assert type(caught.value) is case.error
    assert case.message.lower() in caught.value.message.lower()


def test_hostile_case_names_are_unique() -> None:
    names = [case.name for case in HOSTILE_FILES] + [case.name for case in GOOD_FILES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("case", GOOD_FILES, ids=lambda case: case.name)
def test_good_file_decodes_to_rgb_pages(case: GoodFile) -> None:
    document = decode_document(case.data, DEFAULT_LIMITS)
    assert document.media_type == case.media_type
    assert document.page_count == case.page_count == len(document.pages)
    assert (document.width, document.height) == case.size
    assert all(page.mode == "RGB" for page in document.pages)
    assert document.pages[0].size == case.size


@pytest.mark.parametrize("case", GOOD_FILES, ids=lambda case: case.name)
def test_good_file_inspects_to_the_same_shape(case: GoodFile) -> None:
    info = inspect_document(case.data, DEFAULT_LIMITS)
    assert (info.media_type, info.page_count, (info.width, info.height)) == (
        case.media_type,
        case.page_count,
        case.size,
    )
