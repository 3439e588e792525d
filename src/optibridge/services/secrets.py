"""API keys and webhook secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256)."""

from __future__ import annotations

import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken


class SecretBox:
    def __init__(self, fernet: Fernet) -> None:
        self._fernet = fernet

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as error:
            raise SecretKeyMismatch from error


class SecretKeyMismatch(Exception):
    """Stored secrets were sealed with another OPTIBRIDGE_SECRET_KEY."""

    def __str__(self) -> str:
        return (
            "a stored secret cannot be decrypted: OPTIBRIDGE_SECRET_KEY (or var/secret.key) "
            "is not the key it was saved with"
        )


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison, so response timing says nothing about the secret."""
    return hmac.compare_digest(given.encode(), expected.encode())
