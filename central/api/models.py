"""Response models of the REST API: what a client sees, kept apart from the stored rows.

Times are given three times where a client plots them: ``ts`` (epoch seconds, UTC),
``time`` (ISO-8601, ``Z``) and ``local`` (the store's local time with its offset).
Rollup buckets are reported whole: every hour or day of the store's time zone
that overlaps the requested range (see :mod:`central.localtime`).

A bucket in which a camera the series sums was disconnected, or its agent
silent, is ``missing``: its values are null, never 0 (see
:mod:`central.api.queries.gaps`); ``coverage`` says how much of it was seen.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from central.api.timerange import Bucket, TimeRange, iso
from retail_common.taxonomy import CONFIDENT_AT


class Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class RangeOut(Out):
    start: str = Field(description="start of the range actually used (ISO-8601, UTC)")
    end: str = Field(description="end of the range (exclusive)")
    start_ts: float = Field(description="start, epoch seconds")
    end_ts: float = Field(description="end, epoch seconds")
    capped: bool = Field(description="true when the request asked for a longer span and its start was moved later")

    @classmethod
    def of(cls, rng: TimeRange) -> RangeOut:
        return cls(start=iso(rng.start), end=iso(rng.end), start_ts=rng.start, end_ts=rng.end, capped=rng.capped)


class Gap(Out):
    """Fields every series point has: its local start and whether its data is whole."""

    local: str = Field(description="the bucket's start in the store's time zone, ISO-8601 with offset")
    missing: bool = Field(
        False, description="a camera it sums was disconnected or unreported in this bucket: values are null"
    )
    coverage: float | None = Field(
        None, description="covered camera-hours / judged camera-hours (null: no camera reports uptime)"
    )


class GroupBy(str, Enum):
    NONE = "none"
    CAMERA = "camera"
    ZONE = "zone"


# --- stores -------------------------------------------------------------------------------------


class CameraOut(Out):
    camera_id: str
    first_seen: float
    last_seen: float
    declared: bool = Field(description="its zones and lines were reported by the agent's heartbeat")
    zones: list[str]
    lines: list[str]


class StoreOut(Out):
    store_id: str
    name: str
    created_at: float
    timezone: str = Field(description="IANA time zone of the store's local hours and days")
    cameras: list[CameraOut]


class StoreChange(BaseModel):
    """``PATCH /stores/{store_id}``: what to change (admin); fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200, description="display name")
    timezone: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="IANA time zone (Europe/Paris, Asia/Kolkata, UTC): the store's series are read in its local "
        "hours and days from now on; nothing stored changes",
        examples=["Europe/Paris"],
    )


class StoreList(Out):
    stores: list[StoreOut]
    total: int = Field(description="stores in the chain (all pages)")
    limit: int
    offset: int


# --- traffic, dwell, behaviour ------------------------------------------------------------------


class TrafficPoint(Gap):
    ts: int
    time: str
    visits: int | None = Field(description="null when the bucket is missing data")


class TrafficSeries(Out):
    camera_id: str | None = Field(description="null when summed over every camera")
    zone_id: str | None = Field(description="null for the whole camera view")
    visits: int = Field(description="over the buckets that are not missing")
    points: list[TrafficPoint]


class TrafficOut(Out):
    store_id: str
    timezone: str = Field(description="the store's time zone: hours and days are its local ones")
    range: RangeOut
    bucket: Bucket
    group_by: GroupBy
    visits: int = Field(description="sum over every series")
    series: list[TrafficSeries]


class DwellBin(Out):
    bin: str = Field(description="e.g. `30s_2m`")
    min_s: float
    max_s: float | None = Field(description="null for the open last bin")
    visits: int


class DwellPoint(Gap):
    ts: int
    time: str
    visits: int | None = Field(description="null when the bucket is missing data")
    dwell_s: float | None
    mean_dwell_s: float | None = Field(description="null when there were no visits or the bucket is missing")


class DwellOut(Out):
    store_id: str
    timezone: str
    range: RangeOut
    bucket: Bucket
    camera_id: str | None
    zone_id: str | None
    visits: int
    total_dwell_s: float
    mean_dwell_s: float | None
    bins: list[DwellBin]
    points: list[DwellPoint]


class BehaviorShare(Out):
    behavior: str = Field(description="a label of BEHAVIORS.md, or `unclassified`")
    count: int
    share: float = Field(description="count / all visits (0 when there were none)")


class BehaviorPoint(Gap):
    ts: int
    time: str
    total: int | None = Field(description="null when the bucket is missing data")
    counts: dict[str, int] | None


class BehaviorOut(Out):
    store_id: str
    timezone: str
    range: RangeOut
    bucket: Bucket
    camera_id: str | None
    zone_id: str | None
    total: int
    distribution: list[BehaviorShare]
    trend: list[BehaviorPoint]


# --- heatmap, lines -----------------------------------------------------------------------------


class HeatmapOut(Out):
    store_id: str
    camera_id: str
    range: RangeOut
    rows: int
    cols: int
    days: int = Field(description="days whose grids were summed")
    days_skipped: int = Field(description="days whose grid had another shape than the latest day's")
    max: float = Field(description="largest cell, person-seconds")
    total_person_s: float
    cells: list[list[float]] = Field(description="rows x cols person-seconds, row-major")


class BackgroundOut(Out):
    store_id: str
    camera_id: str
    media_type: str = Field(description="image/png or image/jpeg, as uploaded")
    width: int
    height: int
    bytes: int = Field(description="size of the re-encoded picture")
    sha256: str = Field(description="of the re-encoded picture (the ETag of its GET)")
    uploaded_at: float
    uploaded_by: str = Field(description="the admin API key's id")


class LinePoint(Gap):
    ts: int
    time: str
    in_count: int | None = Field(description="null when the line's camera is missing data in this bucket")
    out_count: int | None


class LineSeries(Out):
    camera_id: str
    line_id: str
    in_count: int
    out_count: int
    points: list[LinePoint]


class LinesOut(Out):
    store_id: str
    timezone: str
    range: RangeOut
    bucket: Bucket
    lines: list[LineSeries]


# --- track summaries ----------------------------------------------------------------------------


class ZoneDwellOut(Out):
    zone_id: str
    seconds: float
    visits: int


class TrackOut(Out):
    track_id: str
    store_id: str
    camera_id: str
    start_ts: float
    end_ts: float
    start: str
    dwell_s: float
    distance_m: float
    mean_speed_mps: float
    max_speed_mps: float
    stop_count: int
    behavior: str | None = Field(description="null until classified")
    probabilities: dict[str, float]
    behavior_confidence: float | None = Field(
        description="the calibrated probability of `behavior` (null until classified)"
    )
    uncertain: bool = Field(
        description=f"the label's probability is below {CONFIDENT_AT}: it may be wrong, do not act on it alone"
    )
    zone_dwell: list[ZoneDwellOut]
    zone_order: list[str]
    path: list[list[float]] = Field(description="[t, x, y] in epoch seconds and floor metres")
    detector_model: str
    behavior_model: str
    received_at: float


class TrackPage(Out):
    items: list[TrackOut] = Field(description="newest first")
    limit: int
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


# --- fleet --------------------------------------------------------------------------------------


class ModelOut(Out):
    name: str = ""
    version: str = ""
    sha256: str = ""
    runtime: str = Field(
        "", description='what runs the model on the agent ("onnxruntime/CPU", "openvino/CPU", "tensorrt"); "" unknown'
    )
    precision: str = Field("", description='its arithmetic ("fp32", "int8", "bf16"); "" where the agent did not say')


class AgentCameraOut(Out):
    camera_id: str = ""
    fps: float = 0.0
    frames_dropped: int = 0
    connected: bool = False
    last_error: str = ""


class AgentOut(Out):
    agent_id: str = Field(description="the agent's id within its store: an agent is known by store and agent id")
    store_id: str
    first_seen: float
    last_seen: float
    online: bool = Field(description="a heartbeat arrived within the online window (2 minutes)")
    agent_version: str
    models: list[ModelOut]
    cameras: list[AgentCameraOut]
    outbox_backlog: int
    last_error: str


class FleetOut(Out):
    agents: list[AgentOut]
    total: int = Field(description="agents matching the filter (all pages)")
    online: int = Field(description="of those, online now")
    online_window_s: float
    limit: int
    offset: int


class HeartbeatOut(Out):
    received_at: float
    payload: dict[str, Any] = Field(description="the heartbeat as the agent sent it")


class HeartbeatsOut(Out):
    store_id: str
    agent_id: str = Field(description="the agent's id within its store")
    heartbeats: list[HeartbeatOut] = Field(description="newest first")


# --- overview -----------------------------------------------------------------------------------


class VisitsSummary(Out):
    visits: int
    total_dwell_s: float
    mean_dwell_s: float | None


class BusiestHour(Out):
    ts: int
    time: str
    local: str
    visits: int


class BusiestHourOfDay(Out):
    hour_of_day: int = Field(description="0-23, the store's local hour")
    visits: int = Field(description="visits in that hour of the day, summed over the range")


class ZoneRank(Out):
    camera_id: str
    zone_id: str
    visits: int
    mean_dwell_s: float | None


class OverviewOut(Out):
    store_id: str
    name: str
    timezone: str
    generated_at: float
    range: RangeOut
    today: VisitsSummary = Field(description="the store's current local day")
    period: VisitsSummary = Field(description="the requested range")
    behavior: list[BehaviorShare] = Field(description="behaviour mix over the range")
    busiest_hour: BusiestHour | None
    busiest_hour_of_day: BusiestHourOfDay | None
    top_zones: list[ZoneRank] = Field(description="zones with the most visits over the range")


# --- keys, health -------------------------------------------------------------------------------


class WhoAmI(Out):
    key_id: str
    name: str
    role: str


class ApiKeyOut(Out):
    key_id: str
    name: str
    role: str
    created_at: float
    revoked_at: float | None


class ApiKeysOut(Out):
    keys: list[ApiKeyOut]


class Health(Out):
    status: str
    database: str
