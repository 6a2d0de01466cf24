"""track summaries keyed in insertion order, unique by store, start time and UUID; paths packed

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 02:10:00

The primary key was the random UUID, so every insert landed at a random place in
an index of every summary ever stored; ingest slowed as the table grew. Rows now
get an insertion-ordered id, and the idempotency key (store, start time, UUID)
is a unique index whose inserts go to the end of each store's range.

Paths are stored packed as the agents send them (``central.db.paths``: float64
times, then float32 x, y pairs) instead of as JSON, which ingest had to format
number by number.

The table is rebuilt (SQLite cannot change a primary key in place): rows are
copied in store and time order, their paths converted on the way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_DATA_COLUMNS = (
    "track_id",
    "store_id",
    "camera_id",
    "start_ts",
    "end_ts",
    "dwell_s",
    "distance_m",
    "mean_speed_mps",
    "max_speed_mps",
    "stop_count",
    "behavior",
    "probabilities",
    "zone_dwell",
    "zone_order",
    "path",
    "detector_model",
    "behavior_model",
    "received_at",
)


_OLD = sa.table("track_summaries_old", sa.column("id"), *(sa.column(c) for c in _DATA_COLUMNS))


def _columns(path: sa.types.TypeEngine[Any]) -> list[sa.Column[Any]]:
    return [
        sa.Column("track_id", sa.String(length=36), nullable=False),
        sa.Column("store_id", sa.String(length=64), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("start_ts", sa.Float(), nullable=False),
        sa.Column("end_ts", sa.Float(), nullable=False),
        sa.Column("dwell_s", sa.Float(), nullable=False),
        sa.Column("distance_m", sa.Float(), nullable=False),
        sa.Column("mean_speed_mps", sa.Float(), nullable=False),
        sa.Column("max_speed_mps", sa.Float(), nullable=False),
        sa.Column("stop_count", sa.Integer(), nullable=False),
        sa.Column("behavior", sa.String(length=16), nullable=True),
        sa.Column("probabilities", sa.Text(), nullable=True),
        sa.Column("zone_dwell", sa.Text(), nullable=False),
        sa.Column("zone_order", sa.Text(), nullable=False),
        sa.Column("path", path, nullable=False),
        sa.Column("detector_model", sa.String(length=128), nullable=False),
        sa.Column("behavior_model", sa.String(length=128), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
    ]


def _set_aside(indexes: tuple[str, ...], primary_key: str) -> None:
    """Rename the old table (and, on PostgreSQL, its key) out of the way of the new one's names."""
    for name in indexes:
        op.drop_index(name, table_name="track_summaries")
    op.rename_table("track_summaries", "track_summaries_old")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE track_summaries_old RENAME CONSTRAINT {primary_key} TO {primary_key}_old")


def _packed(text: str) -> bytes:
    """A JSON path ``[[t, x, y], ...]`` as 0002 stores it (frozen here: later code may change)."""
    points = np.asarray(json.loads(text) or [], dtype=np.float64).reshape(-1, 3)
    return points[:, 0].astype("<f8").tobytes() + points[:, 1:].astype("<f4").tobytes()


def _json(blob: bytes) -> str:
    """A packed path back as 0001's JSON, rounded to milliseconds and millimetres."""
    n = len(blob) // 16
    t = np.frombuffer(blob, dtype="<f8", count=n).tolist()
    xy = np.frombuffer(blob, dtype="<f4", offset=8 * n).reshape(n, 2).tolist()
    return json.dumps([[round(a, 3), round(x, 3), round(y, 3)] for a, (x, y) in zip(t, xy, strict=True)])


def _copy_and_drop_old(path: Callable[[Any], object], where: sa.ColumnElement[bool] | None = None) -> None:
    """Every row (or those ``where`` selects) of the old table into the new one, in store and time order."""
    conn = op.get_bind()
    old = _OLD
    new = sa.table("track_summaries", *(sa.column(c) for c in _DATA_COLUMNS))
    query = sa.select(*(old.c[c] for c in _DATA_COLUMNS)).order_by(old.c.store_id, old.c.start_ts)
    if where is not None:
        query = query.where(where)
    rows = conn.execute(query.execution_options(yield_per=5000))
    for part in rows.partitions():
        conn.execute(sa.insert(new), [{**r._mapping, "path": path(r.path)} for r in part])
    op.drop_table("track_summaries_old")


def upgrade() -> None:
    _set_aside(("ix_track_summaries_store_camera_start", "ix_track_summaries_store_start"), "pk_track_summaries")
    op.create_table(
        "track_summaries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        *_columns(sa.LargeBinary()),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_track_summaries")),
        sa.UniqueConstraint(
            "store_id", "start_ts", "track_id", name=op.f("uq_track_summaries_store_id_start_ts_track_id")
        ),
    )
    op.create_index("ix_track_summaries_store_camera_start", "track_summaries", ["store_id", "camera_id", "start_ts"])
    _copy_and_drop_old(lambda text: _packed(str(text)))


def downgrade() -> None:
    """Back to the UUID as primary key; of summaries that share a UUID (in two stores), the first is kept."""
    _set_aside(("ix_track_summaries_store_camera_start",), "pk_track_summaries")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE track_summaries_old RENAME CONSTRAINT uq_track_summaries_store_id_start_ts_track_id "
            "TO uq_track_summaries_store_id_start_ts_track_id_old"
        )
    op.create_table(
        "track_summaries",
        *_columns(sa.Text()),
        sa.PrimaryKeyConstraint("track_id", name=op.f("pk_track_summaries")),
    )
    op.create_index("ix_track_summaries_store_camera_start", "track_summaries", ["store_id", "camera_id", "start_ts"])
    op.create_index("ix_track_summaries_store_start", "track_summaries", ["store_id", "start_ts"])
    other = _OLD.alias("other")
    first = sa.select(sa.func.min(other.c.id)).group_by(other.c.track_id)
    _copy_and_drop_old(lambda blob: _json(bytes(blob)), _OLD.c.id.in_(first))
