"""Secrets at rest: access-key secrets are encrypted under the server's master key.

Every replica of a deployment is given the same 32-byte master key (a file, loaded and checked
against the database by `master_key.py`). AES-GCM with a random nonce per value; the access
key id is bound as associated data so a ciphertext cannot be moved to another key's row.
"""

from __future__ import annotations

import secrets
import string

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE_BYTES = 12
_SECRET_ALPHABET = string.ascii_letters + string.digits + "/+"


class MasterKey:
    """The AES-256-GCM key that protects stored secrets; its bytes are never printed."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("master key must be 32 bytes")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "MasterKey(<hidden>)"

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(AESGCM.generate_key(bit_length=256))

    def encrypt(self, plaintext: str, *, bound_to: str) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext.encode(), bound_to.encode())

    def decrypt(self, ciphertext: bytes, *, bound_to: str) -> str:
        """Raises ValueError when the value was not encrypted under this key for ``bound_to``."""
        nonce, body = ciphertext[:_NONCE_BYTES], ciphertext[_NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, body, bound_to.encode()).decode()
        except InvalidTag as exc:
            raise ValueError("stored secret does not decrypt under this master key") from exc


def new_secret_access_key() -> str:
    """40 characters from AWS's secret alphabet, from the OS's CSPRNG."""
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))
