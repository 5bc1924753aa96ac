"""File-system helpers shared by the stores that keep ciphertext and keys on local disk."""

from __future__ import annotations

import os
from pathlib import Path


def make_private_dir(path: Path, *, parents: bool = False) -> None:
    """Create ``path`` (mode 0700) if it does not exist."""
    if path.is_dir():
        return
    path.mkdir(mode=0o700, parents=parents, exist_ok=True)
    os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask; set it exactly


def fsync_dir(path: Path) -> None:
    """Persist a rename or unlink in ``path`` (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
