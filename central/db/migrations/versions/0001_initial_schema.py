"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 23:04:12.574967
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_heartbeats",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_heartbeats")),
    )
    with op.batch_alter_table("agent_heartbeats", schema=None) as batch_op:
        batch_op.create_index("ix_agent_heartbeats_agent_received", ["agent_id", "received_at"], unique=False)

    op.create_table(
        "agents",
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("store_id", sa.String(length=64), nullable=False),
        sa.Column("first_seen", sa.Float(), nullable=False),
        sa.Column("last_seen", sa.Float(), nullable=False),
        sa.Column("agent_version", sa.String(length=64), nullable=False),
        sa.Column("models", sa.Text(), nullable=False),
        sa.Column("cameras", sa.Text(), nullable=False),
        sa.Column("outbox_backlog", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("agent_id", name=op.f("pk_agents")),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("salt", sa.LargeBinary(), nullable=False),
        sa.Column("key_hash", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("revoked_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_api_keys")),
    )
    op.create_table(
        "heatmap_daily",
        sa.Column("store_id", sa.String(length=64), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("cols", sa.Integer(), nullable=False),
        sa.Column("cells", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("store_id", "camera_id", "day", name=op.f("pk_heatmap_daily")),
    )
    op.create_table(
        "heatmap_tiles",
        sa.Column("store_id", sa.String(length=64), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("bucket_start", sa.Float(), nullable=False),
        sa.Column("bucket_seconds", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("cols", sa.Integer(), nullable=False),
        sa.Column("cells", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("store_id", "camera_id", "bucket_start", name=op.f("pk_heatmap_tiles")),
    )
    op.create_table(
        "line_counts",
        sa.Column("store_id", sa.String(length=64), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("line_id", sa.String(length=64), nullable=False),
        sa.Column("bucket_start", sa.Float(), nullable=False),
        sa.Column("bucket_seconds", sa.Integer(), nullable=False),
        sa.Column("in_count", sa.Integer(), nullable=False),
        sa.Column("out_count", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("store_id", "camera_id", "line_id", "bucket_start", name=op.f("pk_line_counts")),
    )
    op.create_table(
        "line_hourly",
        sa.Column("store_id", sa.String(length=64), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("line_id", sa.String(length=64), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("in_count", sa.Integer(), nullable=False),
        sa.Column("out_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("store_id", "camera_id", "line_id", "hour", name=op.f("pk_line_hourly")),
    )
    with op.batch_alter_table("line_hourly", schema=None) as batch_op:
        batch_op.create_index("ix_line_hourly_store_hour", ["store_id", "hour"], unique=False)

    op.create_table(
        "lines",
        sa.Column("store_id", sa.String(length=64), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("line_id", sa.String(length=64), nullable=False),
        sa.Column("first_seen", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("store_id", "camera_id", "line_id", name=op.f("pk_lines")),
    )
    op.create_table(
        "stores",
        sa.Column("store_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("token_salt", sa.LargeBinary(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("token_rotated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("store_id", name=op.f("pk_stores")),
    )
    op.create_table(
        "track_summaries",
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
        sa.PrimaryKeyConstraint("track_id", name=op.f("pk_track_summaries")),
    )
    with op.batch_alter_table("track_summaries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_track_summaries_store_camera_start", ["store_id", "camera_id", "start_ts"], unique=False
        )
        batch_op.create_index("ix_track_summaries_store_start", ["store_id", "start_ts"], unique=False)

    op.create_table(
        "traffic_hourly",
        sa.Column("store_id", sa.String(length=64), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("zone_id", sa.String(length=64), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.Column("dwell_s", sa.Float(), nullable=False),
        sa.Column("dwell_under_30s", sa.Integer(), nullable=False),
        sa.Column("dwell_30s_2m", sa.Integer(), nullable=False),
        sa.Column("dwell_2m_5m", sa.Integer(), nullable=False),
        sa.Column("dwell_5m_15m", sa.Integer(), nullable=False),
        sa.Column("dwell_over_15m", sa.Integer(), nullable=False),
        sa.Column("n_decisive", sa.Integer(), nullable=False),
        sa.Column("n_disinterested", sa.Integer(), nullable=False),
        sa.Column("n_hesitant", sa.Integer(), nullable=False),
        sa.Column("n_interested", sa.Integer(), nullable=False),
        sa.Column("n_confused", sa.Integer(), nullable=False),
        sa.Column("n_frustrated", sa.Integer(), nullable=False),
        sa.Column("n_unclassified", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("store_id", "camera_id", "zone_id", "hour", name=op.f("pk_traffic_hourly")),
    )
    with op.batch_alter_table("traffic_hourly", schema=None) as batch_op:
        batch_op.create_index("ix_traffic_hourly_store_hour", ["store_id", "hour"], unique=False)

    op.create_table(
        "zones",
        sa.Column("store_id", sa.String(length=64), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("zone_id", sa.String(length=64), nullable=False),
        sa.Column("first_seen", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("store_id", "camera_id", "zone_id", name=op.f("pk_zones")),
    )
    op.create_table(
        "cameras",
        sa.Column("store_id", sa.String(length=64), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("first_seen", sa.Float(), nullable=False),
        sa.Column("last_seen", sa.Float(), nullable=False),
        sa.Column("declared", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["store_id"], ["stores.store_id"], name=op.f("fk_cameras_store_id_stores")),
        sa.PrimaryKeyConstraint("store_id", "camera_id", name=op.f("pk_cameras")),
    )


def downgrade() -> None:
    op.drop_table("cameras")
    op.drop_table("zones")
    with op.batch_alter_table("traffic_hourly", schema=None) as batch_op:
        batch_op.drop_index("ix_traffic_hourly_store_hour")

    op.drop_table("traffic_hourly")
    with op.batch_alter_table("track_summaries", schema=None) as batch_op:
        batch_op.drop_index("ix_track_summaries_store_start")
        batch_op.drop_index("ix_track_summaries_store_camera_start")

    op.drop_table("track_summaries")
    op.drop_table("stores")
    op.drop_table("lines")
    with op.batch_alter_table("line_hourly", schema=None) as batch_op:
        batch_op.drop_index("ix_line_hourly_store_hour")

    op.drop_table("line_hourly")
    op.drop_table("line_counts")
    op.drop_table("heatmap_tiles")
    op.drop_table("heatmap_daily")
    op.drop_table("api_keys")
    op.drop_table("agents")
    with op.batch_alter_table("agent_heartbeats", schema=None) as batch_op:
        batch_op.drop_index("ix_agent_heartbeats_agent_received")

    op.drop_table("agent_heartbeats")
