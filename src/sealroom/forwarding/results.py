"""What one forwarding pass over a sink did (``Forwarder.run_once`` returns one per sink)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PassResult:
    """What one pass over a sink did."""

    sink: str
    sent: int = 0
    """Records the receiver acknowledged."""
    skipped: int = 0
    """Records passed over by the sink's category filter."""
    from_seq: int = 0
    to_seq: int = 0
    """The cursor before and after the pass."""
    error: str | None = None
    """The failure that stopped the pass (the cursor stays before the failed batch)."""
    failures: int = 0
    """Failures in a row, this one included."""
    busy: str | None = None
    """Another forwarder holds the sink's lease (its owner id); nothing was sent."""

    @property
    def failed(self) -> bool:
        """Whether the pass stopped on a failure."""
        return self.error is not None

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-ready values."""
        return {
            "sink": self.sink, "sent": self.sent, "skipped": self.skipped, "from_seq": self.from_seq,
            "to_seq": self.to_seq, "error": self.error, "failures": self.failures, "busy": self.busy,
        }  # fmt: skip
