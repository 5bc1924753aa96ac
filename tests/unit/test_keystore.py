"""FileDataKeyStore: private atomic writes that never overwrite, a clear error for a destroyed key,
and destruction that overwrites the key before unlinking it."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sealroom.errors import ConflictError, InputError, StorageError
from sealroom.vault.keystore import DataKeyDestroyedError, DataKeyStore, FileDataKeyStore

IMAGE = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"
WRAPPED = bytes(range(1, 41))  # an RFC 3394 wrap of a 32-byte key is 40 bytes


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def store(tmp_path: Path, loose_umask: None) -> FileDataKeyStore:
    return FileDataKeyStore(tmp_path / "keys" / "data-keys")


def _files(store: FileDataKeyStore) -> list[str]:
    return sorted(p.name for p in store.folder.iterdir()) if store.folder.exists() else []


def test_file_store_satisfies_the_protocol(store: FileDataKeyStore) -> None:
    contract: DataKeyStore = store
    for name in ("put", "get", "destroy", "list_ids"):
        assert callable(getattr(contract, name))


def test_put_get_destroy(store: FileDataKeyStore) -> None:
    assert store.list_ids() == []
    store.put(IMAGE, WRAPPED)
    assert store.get(IMAGE) == WRAPPED
    assert store.list_ids() == [IMAGE]
    store.destroy(IMAGE)
    assert store.list_ids() == []
    store.destroy(IMAGE)  # idempotent
    assert _files(store) == []


def test_a_destroyed_key_is_a_clear_storage_error(store: FileDataKeyStore) -> None:
    store.put(IMAGE, WRAPPED)
    store.destroy(IMAGE)
    with pytest.raises(DataKeyDestroyedError, match="deleted by retention") as caught:
        store.get(IMAGE)
    assert isinstance(caught.value, StorageError)
    assert caught.value.code == "data_key_destroyed"
    with pytest.raises(DataKeyDestroyedError):
        store.get(OTHER)  # never stored: the same answer


def test_keys_are_never_overwritten(store: FileDataKeyStore) -> None:
    store.put(IMAGE, WRAPPED)
    with pytest.raises(ConflictError):
        store.put(IMAGE, b"x" * 40)
    assert store.get(IMAGE) == WRAPPED
    assert _files(store) == [f"{IMAGE}.key"]  # no temporary file left


def test_file_is_0600_and_folder_0700_despite_a_loose_umask(store: FileDataKeyStore) -> None:
    store.put(IMAGE, WRAPPED)
    assert stat.S_IMODE(store.folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((store.folder / f"{IMAGE}.key").stat().st_mode) == 0o600


def test_destroy_overwrites_the_key_with_zeros_before_unlinking(
    store: FileDataKeyStore, tmp_path: Path
) -> None:
    store.put(IMAGE, WRAPPED)
    # A second hard link to the same file shows what destroy wrote into it before the unlink.
    peek = tmp_path / "peek"
    os.link(store.folder / f"{IMAGE}.key", peek)
    store.destroy(IMAGE)
    assert not (store.folder / f"{IMAGE}.key").exists()
    assert peek.read_bytes() == bytes(len(WRAPPED))


def test_an_all_zero_file_left_by_an_interrupted_destroy_counts_as_destroyed(store: FileDataKeyStore) -> None:
    store.put(IMAGE, WRAPPED)
    (store.folder / f"{IMAGE}.key").write_bytes(bytes(40))
    with pytest.raises(DataKeyDestroyedError):
        store.get(IMAGE)


@pytest.mark.parametrize(
    "bad", ["", "../" + IMAGE[3:], IMAGE.upper(), IMAGE + "0", "x" * 32, IMAGE[:-1] + "/"]
)
def test_ids_are_validated_so_no_path_escapes_the_folder(store: FileDataKeyStore, bad: str) -> None:
    for call in (lambda: store.put(bad, WRAPPED), lambda: store.get(bad), lambda: store.destroy(bad)):
        with pytest.raises(InputError):
            call()


def test_empty_keys_are_refused(store: FileDataKeyStore) -> None:
    with pytest.raises(InputError):
        store.put(IMAGE, b"")


def test_a_write_failure_is_a_storage_error_and_leaves_nothing(
    store: FileDataKeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "link", full)
    with pytest.raises(StorageError, match="nothing was stored"):
        store.put(IMAGE, WRAPPED)
    monkeypatch.undo()
    assert _files(store) == []


def test_a_symbolic_link_planted_as_a_key_is_not_followed(store: FileDataKeyStore, tmp_path: Path) -> None:
    store.put(OTHER, WRAPPED)
    target = tmp_path / "elsewhere"
    target.write_bytes(b"precious")
    (store.folder / f"{IMAGE}.key").symlink_to(target)
    with pytest.raises(StorageError, match="not a regular file"):
        store.get(IMAGE)
    store.destroy(IMAGE)  # removes the link, never writes through it
    assert target.read_bytes() == b"precious"
    assert not (store.folder / f"{IMAGE}.key").is_symlink()


def test_list_ids_by_age_and_ignores_other_files(store: FileDataKeyStore) -> None:
    store.put(IMAGE, WRAPPED)
    store.put(OTHER, WRAPPED)
    (store.folder / "notes.txt").write_text("not a key")
    (store.folder / ".tmp-abc").write_bytes(b"partial")
    hour_ago = time.time() - 3600
    os.utime(store.folder / f"{IMAGE}.key", (hour_ago, hour_ago))
    assert store.list_ids() == sorted([IMAGE, OTHER])
    assert store.list_ids(min_age_seconds=600) == [IMAGE]


def test_a_missing_folder_lists_nothing_and_is_created_on_first_put(tmp_path: Path) -> None:
    store = FileDataKeyStore(tmp_path / "absent")
    assert store.list_ids() == []
    store.destroy(IMAGE)
    store.put(IMAGE, WRAPPED)
    assert store.get(IMAGE) == WRAPPED
