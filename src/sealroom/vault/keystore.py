"""The data-key store: each image's wrapped data key, kept apart from the database and the blobs.

Destroying an image's entry crypto-shreds the image: its ciphertext (in the blob store, and in every
backup of the blob store) can no longer be decrypted, and a database backup holds no key to try. The
store is key material: it is backed up, if at all, with the workspace key and under the same rules.

``FileDataKeyStore`` keeps one 0600 file per image (``<image id>.key``) in a 0700 folder beside the
workspace key file. Writes are atomic and never replace an existing key; destruction overwrites the
file with zeros before unlinking it. On SSDs and journaling or copy-on-write file systems the overwrite
is not guaranteed to reach the old blocks, which is why the entry is itself wrapped by the workspace
key: a recovered remnant is no more useful than a backup of the folder.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Final, Protocol

from sealroom.errors import ConflictError, InputError, StorageError
from sealroom.vault.files import fsync_dir, make_private_dir

__all__ = ["DataKeyDestroyedError", "DataKeyStore", "FileDataKeyStore", "validate_image_id"]

_IMAGE_ID: Final = re.compile(r"[0-9a-f]{32}")
_SUFFIX: Final = ".key"
_MAX_ENTRY_BYTES: Final = 4096  # a wrapped 32-byte key is 40 bytes; anything this big is not ours


class DataKeyDestroyedError(StorageError):
    """An image's data key is not in the key store: the image was deleted by retention
    (crypto-shredded) or its key file is missing, so its ciphertext cannot be decrypted."""

    code = "data_key_destroyed"


class DataKeyStore(Protocol):
    """Holds each image's wrapped data key; destroying it crypto-shreds the image."""

    def put(self, image_id: str, wrapped_key: bytes) -> None:
        """Store the wrapped key durably; raises ``ConflictError`` if the image already has one."""
        ...

    def get(self, image_id: str) -> bytes:
        """The wrapped key; raises ``DataKeyDestroyedError`` when there is none."""
        ...

    def destroy(self, image_id: str) -> None:
        """Erase the image's key for good; destroying an absent key is not an error."""
        ...

    def list_ids(self, *, min_age_seconds: float = 0.0) -> list[str]:
        """Ids that have a key, optionally only those written at least ``min_age_seconds`` ago."""
        ...


def validate_image_id(image_id: str) -> str:
    """Return ``image_id`` if it is 32 lower-case hex characters, else raise ``InputError``."""
    if not isinstance(image_id, str) or not _IMAGE_ID.fullmatch(image_id):
        raise InputError("an image id is 32 lower-case hexadecimal characters")
    return image_id


def _missing(image_id: str) -> DataKeyDestroyedError:
    return DataKeyDestroyedError(
        f"image {image_id} cannot be decrypted: it was deleted by retention (its data key was "
        "destroyed) or its key file is missing from the key store; if it was not deleted on purpose, "
        "ask the operator to restore the key folder from the key-material backup"
    )


class FileDataKeyStore:
    """A ``DataKeyStore`` on the local file system: one 0600 file per image in a 0700 folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def _path(self, image_id: str) -> Path:
        return self.folder / (validate_image_id(image_id) + _SUFFIX)

    def put(self, image_id: str, wrapped_key: bytes) -> None:
        """Write the key to a temporary file beside its final name, fsync it, link it into place
        (which fails if the name exists, so a key is never replaced) and fsync the folder.

        Raises ``ConflictError`` when the image already has a key, ``StorageError`` when the file
        system refuses; nothing is left behind then.
        """
        path = self._path(image_id)
        if not wrapped_key or len(wrapped_key) > _MAX_ENTRY_BYTES:
            raise InputError("a wrapped data key is 1 to 4096 bytes")
        try:
            self._make_folder()
            fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=self.folder)  # created 0600
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(wrapped_key)
                    handle.flush()
                    os.fsync(handle.fileno())
                # link() refuses an existing name atomically; replace() would overwrite a live key.
                os.link(tmp_name, path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp_name)
            fsync_dir(self.folder)
        except FileExistsError as exc:
            raise ConflictError(
                f"image {image_id} already has a data key; keys are never overwritten"
            ) from exc
        except OSError as exc:
            raise StorageError(
                f"the data-key store could not be written ({exc.strerror or type(exc).__name__}); "
                "nothing was stored"
            ) from exc

    def get(self, image_id: str) -> bytes:
        """Read the wrapped key; refuses to follow a symbolic link planted at its path."""
        path = self._path(image_id)
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError as exc:
            raise _missing(image_id) from exc
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise StorageError(
                    f"the data key of image {image_id} is not a regular file; refusing to read it"
                ) from exc
            problem = exc.strerror or type(exc).__name__
            raise StorageError(f"the data key of image {image_id} could not be read ({problem})") from exc
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(_MAX_ENTRY_BYTES + 1)
        # An all-zero file is one whose destruction was interrupted after the overwrite.
        if not data.strip(b"\0"):
            raise _missing(image_id)
        return data

    def destroy(self, image_id: str) -> None:
        """Overwrite the key file with zeros, fsync it, unlink it and fsync the folder. Idempotent.

        Raises ``StorageError`` when the file system refuses (the key may still be there then).
        """
        path = self._path(image_id)
        try:
            try:
                fd = os.open(path, os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0))
            except FileNotFoundError:
                return
            except OSError as exc:
                if exc.errno != errno.ELOOP:
                    raise
                # A planted link: remove the link itself, never write through it.
            else:
                try:
                    size = os.fstat(fd).st_size
                    os.write(fd, bytes(size))
                    os.fsync(fd)
                finally:
                    os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            fsync_dir(self.folder)
        except OSError as exc:
            raise StorageError(
                f"the data key of image {image_id} could not be destroyed "
                f"({exc.strerror or type(exc).__name__}); the next retention run retries"
            ) from exc

    def list_ids(self, *, min_age_seconds: float = 0.0) -> list[str]:
        """Ids with a key file, optionally only those written at least ``min_age_seconds`` ago.

        The age is measured by the host clock against the file's modification time, because that is
        the clock the file system stamps files with.
        """
        try:
            entries = list(os.scandir(self.folder))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StorageError(
                f"the data-key store could not be listed ({exc.strerror or type(exc).__name__})"
            ) from exc
        newest = time.time() - min_age_seconds
        found = []
        for entry in entries:
            stem, suffix = entry.name[: -len(_SUFFIX)], entry.name[-len(_SUFFIX) :]
            if suffix != _SUFFIX or not _IMAGE_ID.fullmatch(stem):
                continue
            with contextlib.suppress(FileNotFoundError):
                if min_age_seconds <= 0 or entry.stat(follow_symlinks=False).st_mtime <= newest:
                    found.append(stem)
        return sorted(found)

    def _make_folder(self) -> None:
        make_private_dir(self.folder, parents=True)
