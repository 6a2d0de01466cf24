"""Every table of the central database (SQLAlchemy Core). Alembic's migrations create exactly these.

Times are seconds since the Unix epoch (UTC) as double precision: cheap to insert
and compare on both SQLite and PostgreSQL. Hours and days are the epoch second of
their start. Rollup tables are kept current at ingest so that dashboard queries
never scan raw summaries.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeEngine

from retail_common.fields import SUMMARY_FIELDS, Kind, SummaryField
from retail_common.ids import ID_MAX
from retail_common.taxonomy import LABELS

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    }
)


def written_columns(table: Table) -> list[Column[Any]]:
    """The columns a writer fills: all but a surrogate id the database numbers itself."""
    return [c for c in table.columns if c is not table.autoincrement_column]


ID = ID_MAX  # longest store, camera, zone, line or agent id
# upper bounds (seconds) of the dwell distribution's bins; the last bin is open
DWELL_BINS_S = (30, 120, 300, 900)
DWELL_COLUMNS = ("dwell_under_30s", "dwell_30s_2m", "dwell_2m_5m", "dwell_5m_15m", "dwell_over_15m")
BEHAVIOR_COLUMNS = {label: f"n_{label}" for label in LABELS}
UNCLASSIFIED_COLUMN = "n_unclassified"
TIMEZONE_MAX = 64  # longest IANA time zone name stored (the longest in tzdata has 32 characters)
DEFAULT_TIMEZONE = "UTC"

stores = Table(
    "stores",
    metadata,
    Column("store_id", String(ID), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("token_salt", LargeBinary, nullable=False),
    Column("token_hash", LargeBinary, nullable=False),  # scrypt of the enrollment token; the token is never stored
    Column("created_at", Float, nullable=False),
    Column("token_rotated_at", Float, nullable=False),
    # IANA name (zoneinfo): the store's local hours and days in the API's series
    Column("timezone", String(TIMEZONE_MAX), nullable=False, server_default=DEFAULT_TIMEZONE),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),  # the public part of the key, shown in lists
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),  # admin | viewer
    Column("salt", LargeBinary, nullable=False),
    Column("key_hash", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float),
)

cameras = Table(
    "cameras",
    metadata,
    Column("store_id", String(ID), ForeignKey("stores.store_id"), primary_key=True),
    Column("camera_id", String(ID), primary_key=True),
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("declared", Boolean, nullable=False),  # its zones and lines were reported by the agent's heartbeat
    # start of the first uptime bucket its agent reported: from there on, an hour without enough uptime is a gap
    Column("uptime_since", Float),
)

# an admin's background picture of a camera's view (floor plan or reference photo), re-encoded by central; kept
# in the database rather than a data folder so that every central replica behind a load balancer serves it
camera_backgrounds = Table(
    "camera_backgrounds",
    metadata,
    Column("store_id", String(ID), primary_key=True),
    Column("camera_id", String(ID), primary_key=True),
    Column("media_type", String(16), nullable=False),  # image/png | image/jpeg
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("image", LargeBinary, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("uploaded_at", Float, nullable=False),
    Column("uploaded_by", String(32), nullable=False),  # the API key id
)

zones = Table(
    "zones",
    metadata,
    Column("store_id", String(ID), primary_key=True),
    Column("camera_id", String(ID), primary_key=True),
    Column("zone_id", String(ID), primary_key=True),
    Column("first_seen", Float, nullable=False),
)

lines = Table(
    "lines",
    metadata,
    Column("store_id", String(ID), primary_key=True),
    Column("camera_id", String(ID), primary_key=True),
    Column("line_id", String(ID), primary_key=True),
    Column("first_seen", Float, nullable=False),
)

# The idempotency key of a summary is its random UUID within its store and start time: a resent
# summary carries all three unchanged. Rows are keyed by insertion order, and the unique index
# leads with store and time, so that every insert lands at the end of a few index pages instead of
# at a random place in an index of every UUID ever stored (measured: bare inserts keep 60-70k rows/s
# at a million rows instead of falling to 20k). The same index serves time-ranged reads per store.
SUMMARY_KEY = ("store_id", "start_ts", "track_id")


def _sql_type(f: SummaryField) -> TypeEngine[Any]:
    if f.kind in (Kind.UUID, Kind.ID, Kind.TEXT, Kind.LABEL):
        return String(f.max_length)
    types: dict[Kind, TypeEngine[Any]] = {
        Kind.TIME: Float(),
        Kind.REAL: Float(),
        Kind.COUNT: Integer(),
        Kind.PATH: LargeBinary(),  # at most 64 points, packed as central.db.paths says
        Kind.JSON: Text(),
    }
    return types[f.kind]


def _summary_columns() -> list[Column[Any]]:
    """``track_summaries``' columns from the contract's field table, plus central's own: the row's id, its
    dwell (end minus start, for rollups and sorting), the calibrated probability of its behaviour label (read
    off its probabilities, so that uncertain labels can be filtered by index-free comparison) and when it was
    received."""
    out: list[Column[Any]] = [
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    ]
    for f in SUMMARY_FIELDS:
        if any(c.name == f.sql for c in out):  # zone_visits is stored inside zone_dwell
            continue
        out.append(Column(f.sql, _sql_type(f), nullable=f.nullable))
        if f.name == "end_time":
            out.append(Column("dwell_s", Float, nullable=False))
        if f.name == "behavior_probabilities":
            out.append(Column("behavior_confidence", Float, nullable=True))  # NULL: unclassified
    out.append(Column("received_at", Float, nullable=False))
    return out


#: columns of track_summaries that central adds to the contract's fields
CENTRAL_SUMMARY_COLUMNS = ("id", "dwell_s", "behavior_confidence", "received_at")

track_summaries = Table(
    "track_summaries",
    metadata,
    *_summary_columns(),
    UniqueConstraint(*SUMMARY_KEY),
    Index("ix_track_summaries_store_camera_start", "store_id", "camera_id", "start_ts"),
)

heatmap_tiles = Table(
    "heatmap_tiles",
    metadata,
    Column("store_id", String(ID), primary_key=True),
    Column("camera_id", String(ID), primary_key=True),
    Column("bucket_start", Float, primary_key=True),
    Column("bucket_seconds", Integer, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("cols", Integer, nullable=False),
    Column("cells", LargeBinary, nullable=False),  # float32 person-seconds, row-major
    Column("received_at", Float, nullable=False),
)

line_counts = Table(
    "line_counts",
    metadata,
    Column("store_id", String(ID), primary_key=True),
    Column("camera_id", String(ID), primary_key=True),
    Column("line_id", String(ID), primary_key=True),
    Column("bucket_start", Float, primary_key=True),
    Column("bucket_seconds", Integer, nullable=False),
    Column("in_count", Integer, nullable=False),
    Column("out_count", Integer, nullable=False),
    Column("received_at", Float, nullable=False),
)

# how long each camera delivered frames per bucket, as its agent reported (upserted: a bucket resent with another
# value replaces the stored one, and the rollup takes the difference)
camera_uptime = Table(
    "camera_uptime",
    metadata,
    Column("store_id", String(ID), primary_key=True),
    Column("camera_id", String(ID), primary_key=True),
    Column("bucket_start", Float, primary_key=True),
    Column("bucket_seconds", Integer, nullable=False),
    Column("seconds_up", Float, nullable=False),
    Column("received_at", Float, nullable=False),
)

# --- rollups, kept current at ingest ---------------------------------------------------------

traffic_hourly = Table(
    "traffic_hourly",
    metadata,
    Column("store_id", String(ID), primary_key=True),
    Column("camera_id", String(ID), primary_key=True),
    Column("zone_id", String(ID), primary_key=True),  # "" for the whole camera view
    Column("hour", BigInteger, primary_key=True),  # epoch second of the hour's start (UTC)
    Column("visits", Integer, nullable=False),
    Column("dwell_s", Float, nullable=False),  # total seconds: mean dwell = dwell_s / visits
    *(Column(name, Integer, nullable=False) for name in DWELL_COLUMNS),
    *(Column(name, Integer, nullable=False) for name in BEHAVIOR_COLUMNS.values()),
    Column(UNCLASSIFIED_COLUMN, Integer, nullable=False),
    Index("ix_traffic_hourly_store_hour", "store_id", "hour"),
)

line_hourly = Table(
    "line_hourly",
    metadata,
    Column("store_id", String(ID), primary_key=True),
    Column("camera_id", String(ID), primary_key=True),
    Column("line_id", String(ID), primary_key=True),
    Column("hour", BigInteger, primary_key=True),
    Column("in_count", Integer, nullable=False),
    Column("out_count", Integer, nullable=False),
    Index("ix_line_hourly_store_hour", "store_id", "hour"),
)

uptime_hourly = Table(
    "uptime_hourly",
    metadata,
    Column("store_id", String(ID), primary_key=True),
    Column("camera_id", String(ID), primary_key=True),
    Column("hour", BigInteger, primary_key=True),
    Column("seconds_up", Float, nullable=False),  # at most 3600: the camera's buckets within the hour, summed
    Index("ix_uptime_hourly_store_hour", "store_id", "hour"),
)

heatmap_daily = Table(
    "heatmap_daily",
    metadata,
    Column("store_id", String(ID), primary_key=True),
    Column("camera_id", String(ID), primary_key=True),
    Column("day", BigInteger, primary_key=True),  # epoch second of the day's start (UTC)
    Column("rows", Integer, nullable=False),
    Column("cols", Integer, nullable=False),
    Column("cells", LargeBinary, nullable=False),  # float32 person-seconds summed over the day's tiles
)

# --- fleet ------------------------------------------------------------------------------------

AGENT_VERSION_MAX = 64  # longest agent version a heartbeat may report

# An agent is known by its store and its id within that store: a store's token can only ever reach its own
# agents, and two stores may both run an agent called "edge-1".
agents = Table(
    "agents",
    metadata,
    Column("store_id", String(ID), primary_key=True),
    Column("agent_id", String(ID), primary_key=True),
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("agent_version", String(AGENT_VERSION_MAX), nullable=False),
    Column("models", Text, nullable=False),  # JSON [{name, version, sha256}]
    Column("cameras", Text, nullable=False),  # JSON [{camera_id, fps, frames_dropped, connected, last_error}]
    Column("outbox_backlog", Integer, nullable=False),
    Column("last_error", Text, nullable=False),
)

agent_heartbeats = Table(
    "agent_heartbeats",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("store_id", String(ID), nullable=False),
    Column("agent_id", String(ID), nullable=False),
    Column("received_at", Float, nullable=False),
    Column("payload", Text, nullable=False),  # JSON of the heartbeat as received
    Index("ix_agent_heartbeats_store_agent_received", "store_id", "agent_id", "received_at"),
)

# --- model rollout ----------------------------------------------------------------------------

MODEL_NAME_MAX = 64  # registered model name
MODEL_VERSION_MAX = 32  # registry version number
ROLLOUT_ID_MAX = 32
CODE_MAX = 32  # a retail_common.rollout.FailureCode value
STATE_MAX = 16

# One row per registry version central fetched into its artifact cache: what it serves agents, checked once.
model_artifacts = Table(
    "model_artifacts",
    metadata,
    Column("model_name", String(MODEL_NAME_MAX), primary_key=True),
    Column("version", String(MODEL_VERSION_MAX), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("source", Text, nullable=False),  # the registry's URI of the version's files
    Column("contract", Text, nullable=False),  # JSON: inputs, outputs, metadata the agent checks
    Column("cached_at", Float, nullable=False),
)

# A rollout snapshots its version and SHA-256 (and the version to roll back to) when it starts.
rollouts = Table(
    "rollouts",
    metadata,
    Column("rollout_id", String(ROLLOUT_ID_MAX), primary_key=True),
    Column("model_name", String(MODEL_NAME_MAX), nullable=False),
    Column("version", String(MODEL_VERSION_MAX), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("previous_version", String(MODEL_VERSION_MAX)),  # NULL: nothing to roll back to
    Column("previous_sha256", String(64)),
    Column("previous_size_bytes", BigInteger),
    Column("state", String(STATE_MAX), nullable=False),
    Column("paused_from", String(STATE_MAX)),  # where resume goes back to
    Column("revision", Integer, nullable=False),  # +1 at each transition: updates are conditional on it
    Column("failure_code", String(CODE_MAX), nullable=False),  # "" while nothing failed
    Column("message", Text, nullable=False),
    Column("details", Text, nullable=False),  # JSON: the numbers behind the last halt or pause
    Column("canary_percent", Float, nullable=False),
    Column("max_failures", Integer, nullable=False),
    Column("observe_s", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("state_since", Float, nullable=False),
    Column("observe_from", Float),  # when every canary store ran the version
    Index("ix_rollouts_model_name_created_at", "model_name", "created_at"),
    Index("ix_rollouts_state", "state"),
)

rollout_stores = Table(
    "rollout_stores",
    metadata,
    Column("rollout_id", String(ROLLOUT_ID_MAX), ForeignKey("rollouts.rollout_id"), primary_key=True),
    Column("store_id", String(ID), primary_key=True),
    Column("canary", Boolean, nullable=False),
    Column("state", String(STATE_MAX), nullable=False),
    Column("failure_code", String(CODE_MAX), nullable=False),
    Column("message", Text, nullable=False),
    Column("bytes_done", BigInteger, nullable=False),
    Column("reported_at", Float),  # the agent's time of the latest report applied
    Column("updated_at", Float, nullable=False),
    Index("ix_rollout_stores_store_id", "store_id"),
)
