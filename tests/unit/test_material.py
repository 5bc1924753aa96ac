"""Session material: held in memory, zeroed on purge, never re-held by a purged session."""

from __future__ import annotations

import pytest
from PIL import Image

from sealroom.analysis.models import PageImage
from sealroom.errors import SessionEndedError
from sealroom.material import OpenedImage, SessionMaterial


def _opened(image_id: str = "img") -> OpenedImage:
    return OpenedImage(
        image_id, bytearray(b"plaintext image bytes"), [PageImage(0, Image.new("RGB", (4, 4)))]
    )


def test_purge_zeroes_the_plaintext_and_forgets_the_pages() -> None:
    material = SessionMaterial()
    opened = _opened()
    material.put("s1", opened)
    assert material.purge("s1") == ["img"]
    assert opened.plaintext == bytearray(len(b"plaintext image bytes"))
    assert opened.pages == () and material.get("s1", "img") is None


def test_a_purged_session_cannot_hold_material_again() -> None:
    material = SessionMaterial()
    material.purge("s1")
    late = _opened()
    with pytest.raises(SessionEndedError):
        material.put("s1", late)
    assert material.held_ids("s1") == []
    assert late.plaintext == bytearray(len(late.plaintext))


def test_other_sessions_are_untouched_by_a_purge() -> None:
    material = SessionMaterial()
    material.put("s1", _opened("a"))
    material.put("s2", _opened("b"))
    material.purge("s1")
    assert material.held_ids("s2") == ["b"]
