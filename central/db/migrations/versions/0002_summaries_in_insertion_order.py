"""track summaries keyed in insertion order, unique by store, start time and UUID

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 02:10:00

The primary key was the random UUID, so every insert landed at a random place in
an index of every summary ever stored; ingest slowed as the table grew. Rows now
get an insertion-ordered id, and the idempotency key (store, start time, UUID)
is a unique index whose inserts go to the end of each store's range.

The table is rebuilt (SQLite cannot change a primary key in place): rows are
copied in store and time order, which takes about a minute per ten million.
"""

from __future__ import annotations

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


def _columns() -> list[sa.Column[object]]:
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
        sa.Column("path", sa.Text(), nullable=False),
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


def _copy_and_drop_old() -> None:
    columns = ", ".join(_DATA_COLUMNS)
    op.execute(
        f"INSERT INTO track_summaries ({columns}) SELECT {columns} FROM track_summaries_old ORDER BY store_id, start_ts"
    )
    op.drop_table("track_summaries_old")


def upgrade() -> None:
    _set_aside(("ix_track_summaries_store_camera_start", "ix_track_summaries_store_start"), "pk_track_summaries")
    op.create_table(
        "track_summaries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        *_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_track_summaries")),
        sa.UniqueConstraint(
            "store_id", "start_ts", "track_id", name=op.f("uq_track_summaries_store_id_start_ts_track_id")
        ),
    )
    op.create_index("ix_track_summaries_store_camera_start", "track_summaries", ["store_id", "camera_id", "start_ts"])
    _copy_and_drop_old()


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
        *_columns(),
        sa.PrimaryKeyConstraint("track_id", name=op.f("pk_track_summaries")),
    )
    op.create_index("ix_track_summaries_store_camera_start", "track_summaries", ["store_id", "camera_id", "start_ts"])
    op.create_index("ix_track_summaries_store_start", "track_summaries", ["store_id", "start_ts"])
    columns = ", ".join(_DATA_COLUMNS)
    op.execute(
        f"INSERT INTO track_summaries ({columns}) SELECT {columns} FROM track_summaries_old "
        "WHERE id IN (SELECT min(id) FROM track_summaries_old GROUP BY track_id)"
    )
    op.drop_table("track_summaries_old")
