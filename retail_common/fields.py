"""The track summary's fields, declared once: name, type, bounds, proto column(s), SQL column, scalar or JSON.

Every converter of a summary is derived from this table or checked against it by
a test (``tests/retail_common/test_fields.py``): the agent's SQLite row, the
proto's ``SummaryColumns`` out of the agent and into central, central's
``track_summaries`` columns and the bounds that ingest checks before a
transaction. Adding a field to :class:`~retail_common.summary.TrackSummary` is
one entry here plus a migration on each side; a converter that forgets it fails
those tests.

Bounds are the storage's: a string no longer than its SQL column, an integer that
fits a 32-bit column, so that nothing validation lets through can be refused by
the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

from retail_common.ids import ID_MAX, UUID_LENGTH

INT32_MAX: Final = 2**31 - 1
MODEL_MAX: Final = 128  # longest "name/version" of a model
LABEL_MAX: Final = 16  # longest behaviour label


class Kind(str, Enum):
    """What a field holds, which fixes how it is checked and stored."""

    UUID = "uuid"  # canonical random UUID4
    ID = "id"  # store, camera or zone id (retail_common.ids)
    TEXT = "text"  # free text such as a model's "name/version": printable, bounded
    LABEL = "label"  # one of the behaviour taxonomy's labels, or none
    TIME = "time"  # epoch seconds (float64)
    REAL = "real"  # a non-negative measurement (float)
    COUNT = "count"  # a non-negative integer
    PATH = "path"  # [t, x, y] points, packed by retail_common.pathcodec in storage
    JSON = "json"  # a list or mapping, stored as JSON text


@dataclass(frozen=True)
class SummaryField:
    """One field of a track summary and everything each side needs to carry it."""

    name: str  # attribute of TrackSummary, and the agent's SQLite column
    kind: Kind
    proto: tuple[str, ...]  # SummaryColumns fields carrying it; () where the push itself says (store_id)
    sql: str  # column of central's track_summaries
    max_length: int | None = None  # strings: most characters
    maximum: int | None = None  # integers: largest value (within a 32-bit column)
    nullable: bool = False  # may be None (central stores NULL)


SUMMARY_FIELDS: Final = (  # in the order of central's columns
    SummaryField("track_id", Kind.UUID, ("track_id",), "track_id", max_length=UUID_LENGTH),
    SummaryField("store_id", Kind.ID, (), "store_id", max_length=ID_MAX),
    SummaryField("camera_id", Kind.ID, ("camera_id",), "camera_id", max_length=ID_MAX),
    SummaryField("start_time", Kind.TIME, ("start_time",), "start_ts"),
    SummaryField("end_time", Kind.TIME, ("end_time",), "end_ts"),
    SummaryField("distance_m", Kind.REAL, ("distance_m",), "distance_m"),
    SummaryField("mean_speed_mps", Kind.REAL, ("mean_speed_mps",), "mean_speed_mps"),
    SummaryField("max_speed_mps", Kind.REAL, ("max_speed_mps",), "max_speed_mps"),
    SummaryField("stop_count", Kind.COUNT, ("stop_count",), "stop_count", maximum=INT32_MAX),
    SummaryField("behavior", Kind.LABEL, ("behavior",), "behavior", max_length=LABEL_MAX, nullable=True),
    SummaryField(
        "behavior_probabilities",
        Kind.JSON,
        ("probability_labels", "probabilities"),
        "probabilities",
        nullable=True,
    ),
    # zone_dwell and zone_visits travel and are stored together: [[zone_id, seconds, visits], ...]
    SummaryField("zone_dwell", Kind.JSON, ("zone_dwell_count", "zone_id", "zone_seconds"), "zone_dwell"),
    SummaryField("zone_visits", Kind.JSON, ("zone_visits",), "zone_dwell", maximum=INT32_MAX),
    SummaryField("zone_order", Kind.JSON, ("zone_order_count", "zone_order"), "zone_order"),
    SummaryField("path", Kind.PATH, ("path_points", "path_t", "path_xy"), "path"),
    SummaryField("detector_model", Kind.TEXT, ("detector_model",), "detector_model", max_length=MODEL_MAX),
    SummaryField("behavior_model", Kind.TEXT, ("behavior_model",), "behavior_model", max_length=MODEL_MAX),
)


def text_problem(what: str, value: str, max_length: int) -> str | None:
    """Why a free-text value cannot be stored (too long, or a control character such as NUL), or None."""
    if len(value) > max_length:
        return f"{what} has {len(value)} characters (at most {max_length})"
    if not value.isprintable():
        return f"{what} {value[:40]!r} holds a control character"
    return None
