"""Secrets the service must store (printer API keys), encrypted with the settings' key."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken


class SecretBox:
    """Encrypts short secrets; a different ``LIBRARYLAB_SECRET_KEY`` cannot read them."""

    def __init__(self, secret_key: str) -> None:
        digest = hashlib.sha256(b"librarylab/stored-secrets\0" + secret_key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def seal(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def open(self, sealed: str) -> str | None:
        """The secret, or None when it was sealed with another key."""
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            return None
