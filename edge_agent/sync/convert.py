"""Edge domain values to the v1 protobuf messages: the only place the agent touches the contract's types."""

from __future__ import annotations

import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp
from retail_proto.v1 import edge_sync_pb2 as pb

from edge_agent.domain import HeatmapTile, LineCount, TrackSummary

# the packed path's layout (TrackSummary.path_t and path_xy in the proto); central reads it with these too
PATH_TIMES = np.dtype("<f8")
PATH_XY = np.dtype("<f4")


def pack_path(points: object) -> tuple[bytes, bytes]:
    """``[[t, x, y], ...]`` (any sequence or (N, 3) array) as the proto's ``path_t`` and ``path_xy``."""
    array = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    return array[:, 0].astype(PATH_TIMES).tobytes(), array[:, 1:].astype(PATH_XY).tobytes()


def timestamp(ts: float) -> Timestamp:
    nanos = round(ts * 1e9)  # about 0.2 us resolution at today's epoch seconds: finer than any camera
    return Timestamp(seconds=nanos // 1_000_000_000, nanos=nanos % 1_000_000_000)


def summary_pb(s: TrackSummary) -> pb.TrackSummary:
    path_t, path_xy = pack_path(s.path)
    return pb.TrackSummary(
        track_id=s.track_id,
        store_id=s.store_id,
        camera_id=s.camera_id,
        start_time=timestamp(s.start_time),
        end_time=timestamp(s.end_time),
        path_t=path_t,
        path_xy=path_xy,
        distance_m=s.distance_m,
        mean_speed_mps=s.mean_speed_mps,
        max_speed_mps=s.max_speed_mps,
        stop_count=s.stop_count,
        zone_dwell=[
            pb.ZoneDwell(zone_id=z, seconds=seconds, visits=max(1, s.zone_visits.get(z, 1)))
            for z, seconds in s.zone_dwell.items()
        ],
        zone_order=list(s.zone_order),
        behavior=s.behavior or "",
        behavior_probabilities=s.behavior_probabilities,
        detector_model=s.detector_model,
        behavior_model=s.behavior_model or "",
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
