"""store time zones, camera uptime and its hourly rollup, camera background images

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 19:45:00

- ``stores.timezone``: the IANA zone whose hours and days the API's series use;
  existing stores get ``UTC``, which is what they were shown in until now.
- ``cameras.uptime_since``: the first uptime bucket a camera's agent reported;
  NULL for every existing camera (none reported any).
- ``camera_uptime`` (per camera and agent bucket) and ``uptime_hourly`` (its
  per-hour rollup): gaps in the data are told from zeros with them.
- ``camera_backgrounds``: an admin's picture of a camera's view.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stores") as batch_op:
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), nullable=False, server_default="UTC"))
    with op.batch_alter_table("cameras") as batch_op:
        batch_op.add_column(sa.Column("uptime_since", sa.Float(), nullable=True))

    op.create_table(
        "camera_uptime",
        sa.Column("store_id", sa.String(length=64), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("bucket_start", sa.Float(), nullable=False),
        sa.Column("bucket_seconds", sa.Integer(), nullable=False),
        sa.Column("seconds_up", sa.Float(), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("store_id", "camera_id", "bucket_start", name=op.f("pk_camera_uptime")),
    )
    op.create_table(
        "uptime_hourly",
        sa.Column("store_id", sa.String(length=64), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("seconds_up", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("store_id", "camera_id", "hour", name=op.f("pk_uptime_hourly")),
    )
    op.create_index("ix_uptime_hourly_store_hour", "uptime_hourly", ["store_id", "hour"], unique=False)
    op.create_table(
        "camera_backgrounds",
        sa.Column("store_id", sa.String(length=64), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=16), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("image", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_at", sa.Float(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("store_id", "camera_id", name=op.f("pk_camera_backgrounds")),
    )


def downgrade() -> None:
    """Time zones, uptime and backgrounds are dropped: series read in UTC again, without gaps."""
    op.drop_table("camera_backgrounds")
    op.drop_index("ix_uptime_hourly_store_hour", table_name="uptime_hourly")
    op.drop_table("uptime_hourly")
    op.drop_table("camera_uptime")
    with op.batch_alter_table("cameras") as batch_op:
        batch_op.drop_column("uptime_since")
    with op.batch_alter_table("stores") as batch_op:
        batch_op.drop_column("timezone")
