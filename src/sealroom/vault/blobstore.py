"""Where sealed images live: an opaque-reference blob store that only ever receives ciphertext.

``FileBlobStore`` keeps each blob as one file under a root directory (0700 directories, 0600 files).
Writes are atomic: a temporary file in the destination directory is written, flushed to disk and then
renamed over the final name, so a reader sees the whole blob or none of it. References are validated
against a strict pattern, so no reference can name a path outside the root.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from pathlib import Path
from typing import Final, Protocol

from sealroom.errors import ConfigError, ConflictError, InputError, NotFoundError, StorageError
from sealroom.vault.files import fsync_dir, make_private_dir

__all__ = ["BlobStore", "FileBlobStore", "validate_ref"]

_REF: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,199}")


class BlobStore(Protocol):
    """Stores ciphertext under opaque references. Implementations never see plaintext or keys."""

    def put(self, ref: str, data: bytes) -> None:
        """Store ``data`` under ``ref`` atomically; raises ``ConflictError`` if ``ref`` already exists."""
        ...

    def get(self, ref: str) -> bytes:
        """Return the bytes stored under ``ref``; raises ``NotFoundError`` if there are none."""
        ...

    def delete(self, ref: str) -> None:
        """Remove ``ref``; removing an absent reference is not an error."""
        ...

    def exists(self, ref: str) -> bool:
        """Whether ``ref`` is stored."""
        ...


def validate_ref(ref: str) -> str:
    """Return ``ref`` if it is a safe opaque reference (letters, digits, ``_``, ``-``), else raise."""
    if not isinstance(ref, str) or not _REF.fullmatch(ref):
        raise InputError(
            "invalid blob reference: use 1-200 letters, digits, '_' or '-', starting with a letter or digit"
        )
    return ref


class FileBlobStore:
    """A ``BlobStore`` on the local file system: one file per blob, sharded by the first two characters."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        make_private_dir(self.root, parents=True)

    def _path(self, ref: str) -> Path:
        validate_ref(ref)
        return self.root / ref[:2] / ref

    def put(self, ref: str, data: bytes) -> None:
        """Write ``data`` to a 0600 temporary file beside the target, fsync it, then rename it into place.

        Raises ``StorageError`` when the file system refuses (full, read-only, permissions); nothing of
        the blob is left behind then.
        """
        try:
            self._put(ref, data)
        except OSError as exc:
            raise StorageError(
                f"the encrypted image store could not be written ({exc.strerror or type(exc).__name__}); "
                "nothing was stored"
            ) from exc

    def _put(self, ref: str, data: bytes) -> None:
        path = self._path(ref)
        if path.exists():
            raise ConflictError(f"blob {ref} already exists; stored blobs are never overwritten")
        make_private_dir(path.parent)
        fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)  # mkstemp creates with 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
        fsync_dir(path.parent)

    def get(self, ref: str) -> bytes:
        """Read the blob; refuses to follow a symbolic link planted at its path."""
        path = self._path(ref)
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError as exc:
            raise NotFoundError(f"blob {ref} is not in the blob store") from exc
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # a symbolic link where a blob should be
                raise ConfigError(
                    f"blob {ref} is not a regular file in the blob store; refusing to read it"
                ) from exc
            problem = exc.strerror or type(exc).__name__
            raise StorageError(f"blob {ref} could not be read ({problem})") from exc
        with os.fdopen(fd, "rb") as handle:
            return handle.read()

    def delete(self, ref: str) -> None:
        """Remove the blob if present."""
        path = self._path(ref)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return
        fsync_dir(path.parent)

    def exists(self, ref: str) -> bool:
        """Whether a blob is stored under ``ref``."""
        return self._path(ref).is_file()
