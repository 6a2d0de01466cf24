"""agents keyed by store and agent id; heartbeat history keyed the same way

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 10:00:00

An agent was known by its ``agent_id`` alone, so a heartbeat sent with store B's
token for an agent id that store A also uses moved A's row to B, overwrote its
versions and errors and trimmed A's history as B's. Agents are now keyed by
(store_id, agent_id), and each history row names its store.

Existing history rows get the store their payload names (the heartbeat as
received, which always carried its store, and the token was checked against it);
a row whose payload names none gets its agent's store, and one with neither is
dropped, as it cannot be shown under any store.
"""

from __future__ import annotations

import json
from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_AGENTS = sa.table("agents", sa.column("store_id"), sa.column("agent_id"), sa.column("last_seen"))
_BEATS = sa.table(
    "agent_heartbeats", sa.column("id"), sa.column("store_id"), sa.column("agent_id"), sa.column("payload")
)
_CHUNK = 500  # ids per UPDATE ... WHERE id IN (...)


def _payload_store(payload: str) -> str | None:
    try:
        sent = json.loads(payload)
    except ValueError:
        return None
    store = sent.get("store_id") if isinstance(sent, dict) else None
    return store if isinstance(store, str) and 0 < len(store) <= 64 else None


def _fill_history_stores() -> None:
    conn = op.get_bind()
    by_store: dict[str, list[int]] = defaultdict(list)
    for row in conn.execute(sa.select(_BEATS.c.id, _BEATS.c.payload)).all():
        store = _payload_store(str(row.payload))
        if store is not None:
            by_store[store].append(int(row.id))
    for store, ids in by_store.items():
        for i in range(0, len(ids), _CHUNK):
            conn.execute(sa.update(_BEATS).where(_BEATS.c.id.in_(ids[i : i + _CHUNK])).values(store_id=store))
    owner = sa.select(_AGENTS.c.store_id).where(_AGENTS.c.agent_id == _BEATS.c.agent_id).scalar_subquery()
    conn.execute(sa.update(_BEATS).where(_BEATS.c.store_id.is_(None)).values(store_id=owner))
    conn.execute(sa.delete(_BEATS).where(_BEATS.c.store_id.is_(None)))


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch_op:
        batch_op.drop_constraint("pk_agents", type_="primary")
        batch_op.create_primary_key("pk_agents", ["store_id", "agent_id"])

    with op.batch_alter_table("agent_heartbeats") as batch_op:
        batch_op.add_column(sa.Column("store_id", sa.String(length=64), nullable=True))
    _fill_history_stores()
    with op.batch_alter_table("agent_heartbeats") as batch_op:
        batch_op.alter_column("store_id", existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_index("ix_agent_heartbeats_agent_received")
        batch_op.create_index(
            "ix_agent_heartbeats_store_agent_received", ["store_id", "agent_id", "received_at"], unique=False
        )


def downgrade() -> None:
    """Back to one row per agent id: of agents that share an id (in two stores), the last seen is kept,
    with its own history; the others and their history are dropped."""
    conn = op.get_bind()
    other = _AGENTS.alias("other")
    newer = sa.exists().where(
        other.c.agent_id == _AGENTS.c.agent_id,
        sa.or_(
            other.c.last_seen > _AGENTS.c.last_seen,
            sa.and_(other.c.last_seen == _AGENTS.c.last_seen, other.c.store_id > _AGENTS.c.store_id),
        ),
    )
    conn.execute(sa.delete(_AGENTS).where(newer))
    kept = sa.exists().where(_AGENTS.c.store_id == _BEATS.c.store_id, _AGENTS.c.agent_id == _BEATS.c.agent_id)
    conn.execute(sa.delete(_BEATS).where(~kept))

    with op.batch_alter_table("agent_heartbeats") as batch_op:
        batch_op.drop_index("ix_agent_heartbeats_store_agent_received")
        batch_op.drop_column("store_id")
        batch_op.create_index("ix_agent_heartbeats_agent_received", ["agent_id", "received_at"], unique=False)

    with op.batch_alter_table("agents") as batch_op:
        batch_op.drop_constraint("pk_agents", type_="primary")
        batch_op.create_primary_key("pk_agents", ["agent_id"])
