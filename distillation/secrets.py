"""API keys at rest: Fernet with a key derived from SECRET_KEY (changing SECRET_KEY makes stored keys unreadable)."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _fernet() -> Fernet:
    digest = hashlib.sha256(b"aeslab-distillation-api-key:" + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def api_key_encrypt(api_key: str) -> str:
    return _fernet().encrypt(api_key.encode()).decode()


def api_key_decrypt(token: str) -> str:
    """The plain key, or "" when the token was made with another SECRET_KEY."""
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        return ""
