"""Page progress of a running analysis, for callers that show it (a background job, the CLI's bar).

An engine reports ``(pages_done, pages_total)`` after each page it has read; the caller listens with
``reporting(callback)`` around the analysis. The listener is held in a context variable, so it
reaches the engine through the analysis service (which knows nothing of it) on the caller's thread
only, and costs one lookup per page when nobody listens. A listener must be cheap and must not raise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

ProgressCallback = Callable[[int, int], None]
"""Called with ``(pages_done, pages_total)``; ``pages_done`` rises from 1 to ``pages_total``."""

_LISTENER: ContextVar[ProgressCallback | None] = ContextVar("sealroom_analysis_progress", default=None)


def current() -> ProgressCallback | None:
    """The listener of the analysis running on this thread, if any."""
    return _LISTENER.get()


@contextmanager
def reporting(callback: ProgressCallback | None) -> Iterator[None]:
    """Send the page progress of analyses run inside the block to ``callback`` (``None``: to nobody,
    e.g. around extra reads that are not part of the document's progress)."""
    token = _LISTENER.set(callback)
    try:
        yield
    finally:
        _LISTENER.reset(token)
