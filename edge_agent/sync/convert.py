"""Edge domain values to the v1 protobuf messages pushed to central (the heartbeat is built in ``heartbeat.py``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from google.protobuf.timestamp_pb2 import Timestamp
from retail_proto.v1 import edge_sync_pb2 as pb

from retail_common.summary import CameraUptime, HeatmapTile, LineCount, TrackSummary


def timestamp(ts: float) -> Timestamp:
    nanos = round(ts * 1e9)  # about 0.2 us resolution at today's epoch seconds: finer than any camera
    return Timestamp(seconds=nanos // 1_000_000_000, nanos=nanos % 1_000_000_000)


def summary_columns(summaries: Sequence[TrackSummary]) -> pb.SummaryColumns:
    """The summaries as the proto's columns (entry ``i`` of each column is summary ``i``): what agents push."""
    labels = sorted({label for s in summaries for label in s.behavior_probabilities})
    nan = math.nan
    return pb.SummaryColumns(
        track_id=[s.track_id for s in summaries],
        camera_id=[s.camera_id for s in summaries],
        start_time=[s.start_time for s in summaries],
        end_time=[s.end_time for s in summaries],
        distance_m=[s.distance_m for s in summaries],
        mean_speed_mps=[s.mean_speed_mps for s in summaries],
        max_speed_mps=[s.max_speed_mps for s in summaries],
        stop_count=[s.stop_count for s in summaries],
        behavior=[s.behavior or "" for s in summaries],
        detector_model=[s.detector_model for s in summaries],
        behavior_model=[s.behavior_model or "" for s in summaries],
        path_points=[len(s.path) for s in summaries],
        zone_dwell_count=[len(s.zone_dwell) for s in summaries],
        zone_order_count=[len(s.zone_order) for s in summaries],
        probability_labels=labels,
        probabilities=[s.behavior_probabilities.get(label, nan) for s in summaries for label in labels],
        path_t=[t for s in summaries for t, _, _ in s.path],
        path_xy=[v for s in summaries for _, x, y in s.path for v in (x, y)],
        zone_id=[z for s in summaries for z in s.zone_dwell],
        zone_seconds=[seconds for s in summaries for seconds in s.zone_dwell.values()],
        zone_visits=[max(1, s.zone_visits.get(z, 1)) for s in summaries for z in s.zone_dwell],
        zone_order=[z for s in summaries for z in s.zone_order],
    )


def tile_pb(t: HeatmapTile) -> pb.HeatmapTile:
    return pb.HeatmapTile(
        store_id=t.store_id,
        camera_id=t.camera_id,
        bucket_start=timestamp(t.bucket_start),
        bucket_seconds=t.bucket_seconds,
        rows=t.rows,
        cols=t.cols,
        person_seconds=list(t.person_seconds),
    )


def line_count_pb(c: LineCount) -> pb.LineCount:
    return pb.LineCount(
        store_id=c.store_id,
        camera_id=c.camera_id,
        line_id=c.line_id,
        bucket_start=timestamp(c.bucket_start),
        bucket_seconds=c.bucket_seconds,
        in_count=c.in_count,
        out_count=c.out_count,
    )


def uptime_pb(u: CameraUptime) -> pb.CameraUptime:
    return pb.CameraUptime(
        camera_id=u.camera_id,
        bucket_start=timestamp(u.bucket_start),
        bucket_seconds=u.bucket_seconds,
        seconds_up=u.seconds_up,
    )
