"""The workspace's Ed25519 anchor key: signs chain heads (anchors) and evidence exports.

It is a key apart from the audit chain's HMAC key: the HMAC key proves records to whoever holds it;
the anchor key's *public* half lets anyone (an external auditor, a SIEM) check what the workspace
signed without being able to forge a record. The private key is a 32-byte raw seed in a file created
0600 (``audit.anchor.key_file``, ``keys/anchor.key`` by default), refused if others can read it.

``key_id`` is the SHA-256 of the raw public key (hex); publish it (``sealroom audit anchor
--public-key``) so third parties know which key to trust.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sealroom.keys import read_key_file


def canonical_json(statement: dict[str, Any]) -> bytes:
    """The bytes that are signed: sorted keys, no spaces, UTF-8."""
    return json.dumps(statement, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def key_id_of(public_key_hex: str) -> str:
    """The id of a public key: SHA-256 of its 32 raw bytes, hex."""
    return hashlib.sha256(bytes.fromhex(public_key_hex)).hexdigest()


def verify_statement(public_key_hex: str, statement: dict[str, Any], signature_hex: str) -> bool:
    """Whether ``signature_hex`` is the Ed25519 signature of ``statement`` under ``public_key_hex``."""
    try:
        public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
        public.verify(bytes.fromhex(signature_hex), canonical_json(statement))
    except (ValueError, InvalidSignature):
        return False
    return True


@dataclass(frozen=True)
class AnchorKey:
    """A loaded anchor key."""

    _private: Ed25519PrivateKey
    public_key_hex: str
    key_id: str

    @classmethod
    def load(cls, path: Path) -> AnchorKey:
        """Load the key at ``path``, creating it (0600) when it does not exist yet."""
        if not path.exists():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            seed = Ed25519PrivateKey.generate().private_bytes_raw()
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process created it first; read theirs
            else:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(seed)
        private = Ed25519PrivateKey.from_private_bytes(read_key_file(path))
        public_hex = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
        return cls(private, public_hex, key_id_of(public_hex))

    def sign(self, statement: dict[str, Any]) -> str:
        """The Ed25519 signature (hex) of ``canonical_json(statement)``."""
        return self._private.sign(canonical_json(statement)).hex()
