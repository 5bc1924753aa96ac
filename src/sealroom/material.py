"""Decrypted image material held by open sessions, in process memory only.

Plaintext file bytes live in ``bytearray`` buffers that are overwritten with zeros when the session
ends, decoded pages and results are dropped. Nothing here is ever written to disk. Python may hold
transient copies (decoders, engines) that the garbage collector frees; the zeroing removes the
long-lived copy, and the server process is the only place any of it exists.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sealroom.analysis.models import AnalysisResult, PageImage
from sealroom.errors import SessionEndedError


@dataclass
class OpenedImage:
    """One image opened into a session: its plaintext and decoded pages."""

    image_id: str
    plaintext: bytearray
    pages: Sequence[PageImage]
    results: dict[str, AnalysisResult] = field(default_factory=dict)

    def destroy(self) -> None:
        """Overwrite the plaintext and drop every reference to pixels and results."""
        self.plaintext[:] = bytes(len(self.plaintext))
        for page in self.pages:
            page.image.close()
        self.pages = ()
        self.results.clear()


class SessionMaterial:
    """Per-session registry of opened images; safe to use from several request threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, dict[str, OpenedImage]] = {}
        # Sessions already purged: a request of that session still in flight must not put material
        # back after the purge (it would outlive its session until the process ends).
        self._ended: set[str] = set()
        self._purge_listeners: list[Callable[[str], None]] = []

    def on_purge(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(session_id)`` whenever a session is purged, so other session-held state
        (analysis results kept for the browser) goes with the images."""
        self._purge_listeners.append(listener)

    def put(self, session_id: str, opened: OpenedImage) -> None:
        """Hold ``opened`` for ``session_id`` (replacing and destroying an older copy).

        Raises ``SessionEndedError`` (and destroys ``opened``) when the session was already purged.
        """
        previous: OpenedImage | None = None
        with self._lock:
            ended = session_id in self._ended
            if not ended:
                previous = self._held.setdefault(session_id, {}).pop(opened.image_id, None)
                self._held[session_id][opened.image_id] = opened
        if ended:
            opened.destroy()
            raise SessionEndedError("the session ended while the image was being opened; sign in again")
        if previous is not None:
            previous.destroy()

    def get(self, session_id: str, image_id: str) -> OpenedImage | None:
        """The image if this session holds it."""
        with self._lock:
            return self._held.get(session_id, {}).get(image_id)

    def held_ids(self, session_id: str) -> list[str]:
        """Ids of the images this session holds."""
        with self._lock:
            return sorted(self._held.get(session_id, {}))

    def drop(self, session_id: str, image_id: str) -> bool:
        """Destroy one image held by a session (its access ended); whether it was held."""
        with self._lock:
            opened = self._held.get(session_id, {}).pop(image_id, None)
        if opened is None:
            return False
        opened.destroy()
        return True

    def purge(self, session_id: str) -> list[str]:
        """Destroy everything the session holds; returns the purged image ids."""
        with self._lock:
            held = self._held.pop(session_id, {})
            self._ended.add(session_id)
        for opened in held.values():
            opened.destroy()
        for listener in self._purge_listeners:
            listener(session_id)
        return sorted(held)

    def drop_image(self, image_id: str) -> list[str]:
        """Destroy every session's copy of one image (it was deleted); returns those sessions' ids."""
        dropped: list[tuple[str, OpenedImage]] = []
        with self._lock:
            for session_id, held in self._held.items():
                opened = held.pop(image_id, None)
                if opened is not None:
                    dropped.append((session_id, opened))
            for session_id, _ in dropped:
                if not self._held[session_id]:
                    del self._held[session_id]
        for _, opened in dropped:
            opened.destroy()
        return sorted(session_id for session_id, _ in dropped)

    def holders(self, image_id: str) -> list[str]:
        """Ids of the sessions holding a copy of the image."""
        with self._lock:
            return sorted(session_id for session_id, held in self._held.items() if image_id in held)

    def is_ended(self, session_id: str) -> bool:
        """Whether the session's material was purged (in this process)."""
        with self._lock:
            return session_id in self._ended

    def sessions(self) -> list[str]:
        """Ids of sessions holding anything."""
        with self._lock:
            return sorted(self._held)
