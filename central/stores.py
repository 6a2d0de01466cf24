"""Stores and their enrollment tokens: created, listed and rotated by ``retail-central stores``."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Engine, insert, select, update

from central.auth import Authenticator, HashedSecret, hash_secret, new_secret
from central.config import AuthConfig
from central.db.schema import stores
from central.localtime import DEFAULT_ZONE, zone_problem
from retail_common.ids import id_problem


class StoreError(ValueError):
    """A store cannot be created or changed as asked."""


@dataclass(frozen=True)
class StoreInfo:
    store_id: str
    name: str
    created_at: float
    token_rotated_at: float
    timezone: str = DEFAULT_ZONE


NAME_MAX = 200  # longest display name (the column's length)


def _zone(timezone: str) -> str:
    problem = zone_problem(timezone)
    if problem:
        raise StoreError(problem)
    return timezone


def create_store(engine: Engine, store_id: str, name: str | None = None, timezone: str = DEFAULT_ZONE) -> str:
    """Create a store in an IANA time zone (its local hours and days in the API); returns its enrollment
    token, shown this once."""
    problem = id_problem("store id", store_id)
    if problem:
        raise StoreError(problem)
    if name is not None and not 0 < len(name) <= NAME_MAX:
        raise StoreError(f"store name must have 1 to {NAME_MAX} characters, not {len(name)}")
    _zone(timezone)
    secret = new_secret()
    hashed = hash_secret(secret)
    now = time.time()
    with engine.begin() as conn:
        if conn.execute(select(stores.c.store_id).where(stores.c.store_id == store_id)).first():
            raise StoreError(f"store {store_id!r} exists already (rotate its token instead)")
        conn.execute(
            insert(stores).values(
                store_id=store_id,
                name=name or store_id,
                token_salt=hashed.salt,
                token_hash=hashed.digest,
                created_at=now,
                token_rotated_at=now,
                timezone=timezone,
            )
        )
    return f"{store_id}.{secret}"


def change_store(engine: Engine, store_id: str, *, name: str | None = None, timezone: str | None = None) -> None:
    """Rename a store or move it to another time zone (its stored data is unchanged: only how its hours and
    days are read). Raises :class:`StoreError` for an unknown store, zone or a bad name, changing nothing."""
    values: dict[str, str] = {}
    if timezone is not None:
        values["timezone"] = _zone(timezone)
    if name is not None:
        if not 0 < len(name) <= NAME_MAX:
            raise StoreError(f"store name must have 1 to {NAME_MAX} characters, not {len(name)}")
        values["name"] = name
    with engine.begin() as conn:
        if conn.execute(select(stores.c.store_id).where(stores.c.store_id == store_id)).first() is None:
            raise StoreError(f"no store {store_id!r}")
        if values:
            conn.execute(update(stores).where(stores.c.store_id == store_id).values(**values))


def rotate_token(engine: Engine, store_id: str) -> str:
    """A new token for the store; the old one stops working at once."""
    secret = new_secret()
    hashed = hash_secret(secret)
    with engine.begin() as conn:
        done = conn.execute(
            update(stores)
            .where(stores.c.store_id == store_id)
            .values(token_salt=hashed.salt, token_hash=hashed.digest, token_rotated_at=time.time())
        )
        if done.rowcount != 1:
            raise StoreError(f"no store {store_id!r}")
    return f"{store_id}.{secret}"


def list_stores(engine: Engine) -> list[StoreInfo]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                stores.c.store_id, stores.c.name, stores.c.created_at, stores.c.token_rotated_at, stores.c.timezone
            ).order_by(stores.c.store_id)
        )
        return [StoreInfo(*row) for row in rows]


def store_authenticator(engine: Engine, config: AuthConfig | None = None) -> Authenticator[str]:
    """Checks ``<store_id>.<secret>`` tokens; what it returns is the token's store."""

    def lookup(store_id: str) -> tuple[HashedSecret, str] | None:
        with engine.connect() as conn:
            row = conn.execute(
                select(stores.c.token_salt, stores.c.token_hash).where(stores.c.store_id == store_id)
            ).first()
        return None if row is None else (HashedSecret(bytes(row.token_salt), bytes(row.token_hash)), store_id)

    return Authenticator(lookup, config)
