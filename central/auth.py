"""Secrets of the central service: store enrollment tokens and REST API keys.

A secret is shown once, at creation, and stored only as a salted scrypt hash.
Tokens read ``<store_id>.<secret>`` and API keys ``<key_id>.<secret>``, so the
server finds the one hash to compare without scanning. scrypt is slow on
purpose (about 40 ms and 16 MiB), so checking one is bounded three ways
(:class:`Authenticator`): a verified credential is remembered for a while, keyed
by a keyed hash of it (never the secret) and by the stored hash (so a rotation
forgets it at once); at most a few checks run at once; an address or id with too
many failures in a window is refused before any check. An unknown id costs the
same scrypt as a known one, so the response time does not tell which ids exist.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Generic, TypeVar

from central.config import AuthConfig

T = TypeVar("T")

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


class AuthRefusedError(Exception):
    """A credential was not checked: the caller may retry after ``retry_after_s``."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ThrottledError(AuthRefusedError):
    """Too many failed checks from this address or for this id."""


class AuthBusyError(AuthRefusedError):
    """Every check slot stayed busy for the configured wait."""


class FailureThrottle:
    """Failed checks per key (an address or an id) in a sliding window; a key past the limit waits."""

    def __init__(self, max_failures: int, window_s: float, tracked_max: int) -> None:
        self._max = max_failures
        self._window = window_s
        self._tracked_max = tracked_max
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, *keys: str) -> float:
        """Seconds until every key may try again (0: now)."""
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for key in keys:
                times = self._failures.get(key)
                if times is None:
                    continue
                while times and times[0] <= now - self._window:
                    times.popleft()
                if len(times) >= self._max:
                    wait = max(wait, times[0] + self._window - now)
        return wait

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                times = self._failures.setdefault(key, deque(maxlen=self._max))
                times.append(now)
                self._failures.move_to_end(key)
            while len(self._failures) > self._tracked_max:
                self._failures.popitem(last=False)


class SecretVerifier:
    """Checks a presented secret against a stored hash, at most ``slots`` at once, remembering successes."""

    def __init__(self, config: AuthConfig | None = None) -> None:
        config = config or AuthConfig()
        self._remember_s = config.remember_s
        self._capacity = config.remember_max
        self._wait_s = config.check_wait_s
        self._slots = threading.BoundedSemaphore(config.max_concurrent_checks)
        self._mac_key = secrets.token_bytes(32)  # per process: the remembered keys mean nothing elsewhere
        self._ok: OrderedDict[bytes, tuple[bytes, float]] = OrderedDict()  # mac -> (stored digest, expiry)
        self._lock = threading.Lock()
        self._dummy = hash_secret(new_secret())

    def _mac(self, credential: str) -> bytes:
        return hmac.new(self._mac_key, credential.encode(), hashlib.sha256).digest()

    def remembered(self, credential: str) -> bool:
        """Whether ``credential`` was verified recently (the stored hash is compared again by :meth:`verify`)."""
        with self._lock:
            entry = self._ok.get(self._mac(credential))
        return entry is not None and entry[1] > time.monotonic()

    def verify(self, credential: str, secret: str, stored: HashedSecret | None) -> bool:
        """Whether ``secret`` matches ``stored``; an unknown id (None) costs the same scrypt and fails."""
        mac = self._mac(credential)
        if stored is not None:
            with self._lock:
                entry = self._ok.get(mac)
                if entry is not None and entry[1] > time.monotonic() and hmac.compare_digest(entry[0], stored.digest):
                    self._ok.move_to_end(mac)
                    return True
        target = stored or self._dummy
        if not self._slots.acquire(timeout=self._wait_s):
            raise AuthBusyError(f"every one of the secret checks is busy for {self._wait_s:g} s; retry", self._wait_s)
        try:
            ok = hmac.compare_digest(hash_secret(secret, target.salt).digest, target.digest)
        finally:
            self._slots.release()
        if not ok or stored is None:
            return False
        if self._remember_s > 0:
            with self._lock:
                self._ok[mac] = (stored.digest, time.monotonic() + self._remember_s)
                self._ok.move_to_end(mac)
                while len(self._ok) > self._capacity:
                    self._ok.popitem(last=False)
        return True


class Authenticator(Generic[T]):
    """The identity a credential proves (``lookup`` finds the stored hash by id), with throttling and bounds.

    Raises :class:`ThrottledError` when the address or the id failed too often lately
    (unless the credential itself was verified recently: a flood aimed at a store
    does not lock out its running agent) and :class:`AuthBusyError` when no check slot
    came free; returns None for a malformed, unknown or wrong credential.
    """

    def __init__(
        self, lookup: Callable[[str], tuple[HashedSecret, T] | None], config: AuthConfig | None = None
    ) -> None:
        config = config or AuthConfig()
        self.lookup = lookup
        self.verifier = SecretVerifier(config)
        self.throttle = FailureThrottle(config.max_failures, config.failure_window_s, config.tracked_max)

    def precheck(self, credential: str, peer: str) -> None:
        """Raise :class:`ThrottledError` when this attempt would be refused anyway; cheap (no database, no scrypt)."""
        if self.verifier.remembered(credential):
            return
        parts = split_credential(credential)
        keys = (f"peer:{peer}",) if parts is None else (f"peer:{peer}", f"id:{parts[0]}")
        wait = self.throttle.retry_after(*keys)
        if wait > 0:
            raise ThrottledError(f"too many failed attempts; retry in {math.ceil(wait)} s", wait)

    def authenticate(self, credential: str, peer: str) -> T | None:
        self.precheck(credential, peer)
        parts = split_credential(credential)
        if parts is None:
            self.throttle.failed(f"peer:{peer}")
            return None
        ident, secret = parts
        found = self.lookup(ident)
        if not self.verifier.verify(credential, secret, found[0] if found is not None else None) or found is None:
            self.throttle.failed(f"peer:{peer}", f"id:{ident}")
            return None
        return found[1]
