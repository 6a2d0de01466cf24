"""track summaries keep the calibrated probability of their behaviour label in a column

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 20:00:00

``behavior_confidence`` is the probability the agent gave the label it chose, read
off the summary's probabilities at ingest, so that the API can list the uncertain
labels (below ``retail_common.taxonomy.CONFIDENT_AT``) without parsing JSON. Rows
stored before it get theirs from their stored probabilities; a row without a
label or without its label's probability keeps NULL.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_SUMMARIES = sa.table(
    "track_summaries",
    sa.column("id"),
    sa.column("behavior"),
    sa.column("probabilities"),
    sa.column("behavior_confidence"),
)
_CHUNK = 1000  # rows read and updated at a time


def _confidence(behavior: str | None, probabilities: str | None) -> float | None:
    if behavior is None or probabilities is None:
        return None
    try:
        value = json.loads(probabilities).get(behavior)
    except (ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, (int, float)) else None


def _fill() -> None:
    conn = op.get_bind()
    s = _SUMMARIES.c
    last = -1
    while True:
        rows = conn.execute(
            sa.select(s.id, s.behavior, s.probabilities)
            .where(s.id > last, s.behavior.is_not(None))
            .order_by(s.id)
            .limit(_CHUNK)
        ).all()
        if not rows:
            return
        for row in rows:
            value = _confidence(row.behavior, row.probabilities)
            if value is not None:
                conn.execute(sa.update(_SUMMARIES).where(s.id == row.id).values(behavior_confidence=value))
        last = int(rows[-1].id)


def upgrade() -> None:
    with op.batch_alter_table("track_summaries") as batch_op:
        batch_op.add_column(sa.Column("behavior_confidence", sa.Float(), nullable=True))
    _fill()


def downgrade() -> None:
    with op.batch_alter_table("track_summaries") as batch_op:
        batch_op.drop_column("behavior_confidence")
