"""API keys, webhook secrets and OAuth secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256).

A foundation module, beside `config` and `errors`: the store, the engine and the runtime all seal
and open secrets, so it belongs to none of them and imports nothing of ours.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretBox:
    """Seals under the newest secret key; opens what any of the configured keys sealed."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        fernets = [Fernet(key) for key in keys]
        self._newest = fernets[0]
        self._any = MultiFernet(fernets)

    def seal(self, plaintext: str) -> str:
        return self._newest.encrypt(plaintext.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._any.decrypt(sealed.encode()).decode()
        except InvalidToken as error:
            raise SecretKeyMismatch from error

    def reseal(self, sealed: str) -> str | None:
        """`sealed` sealed again under the newest key, or None if it already is."""
        token = sealed.encode()
        try:
            self._newest.decrypt(token)
        except InvalidToken:
            pass
        else:
            return None
        try:
            return self._any.rotate(token).decode()
        except InvalidToken as error:
            raise SecretKeyMismatch from error


class SecretKeyMismatch(Exception):
    """A stored secret was sealed with none of the configured OPTIBRIDGE_SECRET_KEY keys."""

    def __str__(self) -> str:
        return (
            "a stored secret cannot be decrypted: none of the keys in OPTIBRIDGE_SECRET_KEY "
            "(or var/secret.key) is the key it was saved with"
        )


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison, so response timing says nothing about the secret."""
    return hmac.compare_digest(given.encode(), expected.encode())
