"""Secrets of the central service: store enrollment tokens and REST API keys.

A secret is shown once, at creation, and stored only as a salted scrypt hash.
Tokens read ``<store_id>.<secret>`` and API keys ``<key_id>.<secret>``, so the
server finds the one hash to compare without scanning. scrypt is slow on
purpose; a successful check is remembered (keyed by the stored hash, so a
rotation forgets it at once) to keep pushes cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from enum import Enum

SECRET_BYTES = 32
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


class Role(str, Enum):
    ADMIN = "admin"
    VIEWER = "viewer"


@dataclass(frozen=True)
class HashedSecret:
    salt: bytes
    digest: bytes


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def hash_secret(secret: str, salt: bytes | None = None) -> HashedSecret:
    salt = salt if salt is not None else secrets.token_bytes(16)
    return HashedSecret(salt, hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT))


def split_credential(credential: str) -> tuple[str, str] | None:
    """``<id>.<secret>`` into its two parts, or None when it has no such shape."""
    ident, dot, secret = credential.strip().rpartition(".")
    if not dot or not ident or len(secret) < 16:
        return None
    return ident, secret


class SecretVerifier:
    """Constant-time checks of a presented secret against a stored hash, remembering recent successes."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._ok: OrderedDict[bytes, None] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def verify(self, secret: str, stored: HashedSecret) -> bool:
        key = hashlib.sha256(stored.salt + stored.digest + secret.encode()).digest()
        with self._lock:
            if key in self._ok:
                self._ok.move_to_end(key)
                return True
        if not hmac.compare_digest(hash_secret(secret, stored.salt).digest, stored.digest):
            return False
        with self._lock:
            self._ok[key] = None
            while len(self._ok) > self._capacity:
                self._ok.popitem(last=False)
        return True
