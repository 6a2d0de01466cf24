"""API keys of the REST API: created, listed and revoked by ``retail-central apikeys``, checked on every request.

A key reads ``<key_id>.<secret>``. Only a salted scrypt hash of the secret is
stored; the full key is shown once, by :func:`create_api_key`. Revocation is
checked on every request (the row lookup filters ``revoked_at IS NULL``), so it
takes effect at once on every replica.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import Engine, select, update

from central.auth import Authenticator, HashedSecret, Role, hash_secret, new_secret
from central.config import AuthConfig
from central.db.schema import api_keys

MAX_NAME = 200
_KEY_ID = re.compile(r"[0-9A-Za-z_-]{1,32}")  # what create_api_key makes; anything else is refused before a query


@dataclass(frozen=True)
class ApiKeyInfo:
    """What a listing shows of a key: never its secret."""

    key_id: str
    name: str
    role: Role
    created_at: float
    revoked_at: float | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key that authenticated the request."""

    key_id: str
    name: str
    role: Role


def create_api_key(engine: Engine, name: str, role: Role | str) -> str:
    """Store a new key and return it in full (``<key_id>.<secret>``); it cannot be shown again."""
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise ValueError(f"an API key's name must have 1 to {MAX_NAME} characters, got {name!r}")
    try:
        role = Role(role)
    except ValueError:
        raise ValueError(f"unknown role {role!r}; expected one of {[r.value for r in Role]}") from None
    key_id = secrets.token_hex(8)
    secret = new_secret()
    hashed = hash_secret(secret)
    with engine.begin() as conn:
        conn.execute(
            api_keys.insert().values(
                key_id=key_id,
                name=name,
                role=role.value,
                salt=hashed.salt,
                key_hash=hashed.digest,
                created_at=time.time(),
                revoked_at=None,
            )
        )
    return f"{key_id}.{secret}"


def list_api_keys(engine: Engine, include_revoked: bool = True) -> list[ApiKeyInfo]:
    """Every key, oldest first."""
    query = select(
        api_keys.c.key_id, api_keys.c.name, api_keys.c.role, api_keys.c.created_at, api_keys.c.revoked_at
    ).order_by(api_keys.c.created_at, api_keys.c.key_id)
    if not include_revoked:
        query = query.where(api_keys.c.revoked_at.is_(None))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [ApiKeyInfo(r.key_id, r.name, Role(r.role), r.created_at, r.revoked_at) for r in rows]


def revoke_api_key(engine: Engine, key_id: str) -> bool:
    """Revoke an active key; False when no active key has that id (unknown or already revoked)."""
    with engine.begin() as conn:
        result = conn.execute(
            update(api_keys)
            .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=time.time())
        )
    return result.rowcount > 0


def key_authenticator(engine: Engine, config: AuthConfig | None = None) -> Authenticator[Principal]:
    """Checks ``<key_id>.<secret>`` API keys; what it returns is the active key's :class:`Principal`."""

    def lookup(key_id: str) -> tuple[HashedSecret, Principal] | None:
        if not _KEY_ID.fullmatch(key_id):  # never a key: no query, but the same scrypt as for an unknown one
            return None
        with engine.connect() as conn:
            row = conn.execute(
                select(api_keys.c.name, api_keys.c.role, api_keys.c.salt, api_keys.c.key_hash).where(
                    api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None)
                )
            ).first()
        if row is None:
            return None
        return HashedSecret(bytes(row.salt), bytes(row.key_hash)), Principal(key_id, row.name, Role(row.role))

    return Authenticator(lookup, config)
