"""The data-key store: wrapped per-image data keys, kept apart from the database. (Contract stub.)"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class DataKeyStore(Protocol):
    """Holds each image's wrapped data key; destroying it crypto-shreds the image."""

    def put(self, image_id: str, wrapped_key: bytes) -> None: ...
    def get(self, image_id: str) -> bytes: ...
    def destroy(self, image_id: str) -> None: ...


class FileDataKeyStore:
    """One 0600 file per image under the workspace's key folder."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def put(self, image_id: str, wrapped_key: bytes) -> None:
        raise NotImplementedError

    def get(self, image_id: str) -> bytes:
        raise NotImplementedError

    def destroy(self, image_id: str) -> None:
        raise NotImplementedError
