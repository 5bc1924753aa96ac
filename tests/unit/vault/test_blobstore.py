"""FileBlobStore: the BlobStore contract, atomic private writes, and references that cannot escape."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from sealroom.errors import ConfigError, ConflictError, InputError, NotFoundError, StorageError
from sealroom.vault.blobstore import BlobStore, FileBlobStore, validate_ref


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def store(tmp_path: Path, loose_umask: None) -> FileBlobStore:
    return FileBlobStore(tmp_path / "blobs")


def test_file_blob_store_satisfies_the_protocol(store: FileBlobStore) -> None:
    contract: BlobStore = store  # checked by mypy; the runtime check below keeps the names honest
    for name in ("put", "get", "delete", "exists"):
        assert callable(getattr(contract, name))


def test_put_get_exists_delete(store: FileBlobStore) -> None:
    ref = "0123456789abcdef0123456789abcdef"
    assert not store.exists(ref)
    store.put(ref, b"ciphertext")
    assert store.exists(ref)
    assert store.get(ref) == b"ciphertext"
    store.delete(ref)
    assert not store.exists(ref)
    store.delete(ref)  # idempotent
    with pytest.raises(NotFoundError):
        store.get(ref)


def test_blobs_are_never_overwritten(store: FileBlobStore) -> None:
    store.put("abc", b"one")
    with pytest.raises(ConflictError):
        store.put("abc", b"two")
    assert store.get("abc") == b"one"


def test_files_are_0600_and_directories_0700_despite_a_loose_umask(
    store: FileBlobStore, tmp_path: Path
) -> None:
    store.put("abcdef", b"x")
    blob = tmp_path / "blobs" / "ab" / "abcdef"
    assert stat.S_IMODE(blob.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "blobs").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "blobs" / "ab").stat().st_mode) == 0o700


def test_a_failed_write_leaves_nothing_behind(
    store: FileBlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(StorageError, match="nothing was stored"):
        store.put("abcdef", b"x" * 1000)
    monkeypatch.undo()
    assert not store.exists("abcdef")
    assert [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == []


def test_write_goes_through_a_temporary_file_and_rename(
    store: FileBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        seen.append((os.path.basename(src), os.path.basename(dst)))
        assert os.path.dirname(src) == os.path.dirname(dst)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    store.put("abcdef", b"x")
    assert len(seen) == 1 and seen[0][0].startswith(".tmp-") and seen[0][1] == "abcdef"


@pytest.mark.parametrize(
    "ref",
    [
        "",
        "..",
        "../escape",
        "a/b",
        "/etc/passwd",
        ".hidden",
        "-leading-dash",
        "abc\n",
        "a\x00b",
        "ab cd",
        "x" * 201,
        "ab\\cd",
        "é",
    ],
)
def test_unsafe_references_are_refused(store: FileBlobStore, ref: str) -> None:
    with pytest.raises(InputError):
        validate_ref(ref)
    for call in (
        lambda: store.put(ref, b"x"),
        lambda: store.get(ref),
        lambda: store.delete(ref),
        lambda: store.exists(ref),
    ):
        with pytest.raises(InputError):
            call()


def test_a_planted_symlink_is_not_followed(store: FileBlobStore, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"not yours")
    store.put("abzzzz", b"x")
    (tmp_path / "blobs" / "ab" / "abevil").symlink_to(secret)
    with pytest.raises(ConfigError):
        store.get("abevil")


def test_existing_root_is_reused(tmp_path: Path) -> None:
    FileBlobStore(tmp_path / "blobs").put("abc", b"1")
    assert FileBlobStore(tmp_path / "blobs").get("abc") == b"1"
