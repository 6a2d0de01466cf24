"""Protobuf messages to ingest rows and results back to protobuf: the only ingest module that knows the proto."""

from __future__ import annotations

import math

import numpy as np
import orjson
from google.protobuf.timestamp_pb2 import Timestamp
from retail_proto.v1 import edge_sync_pb2 as pb

from central.ingest.fleet import CameraReport, Heartbeat
from central.ingest.items import Batch, ItemResult, Kind, LineCountIn, Status, SummaryIn, TileIn

_KIND = {
    Kind.SUMMARY: pb.ITEM_KIND_SUMMARY,
    Kind.TILE: pb.ITEM_KIND_TILE,
    Kind.LINE_COUNT: pb.ITEM_KIND_LINE_COUNT,
}
_STATUS = {
    Status.STORED: pb.ITEM_STATUS_STORED,
    Status.DUPLICATE: pb.ITEM_STATUS_DUPLICATE,
    Status.REJECTED: pb.ITEM_STATUS_REJECTED,
    Status.RETRY: pb.ITEM_STATUS_RETRY,
}


def _ts(stamp: Timestamp, present: bool) -> float:
    """Epoch seconds, NaN when the field was not set (the validator names it)."""
    return stamp.seconds + stamp.nanos * 1e-9 if present else math.nan


def summary_in(msg: pb.TrackSummary, received_at: float) -> SummaryIn:
    start = _ts(msg.start_time, msg.HasField("start_time"))
    end = _ts(msg.end_time, msg.HasField("end_time"))
    zone_dwell = [(z.zone_id, float(z.seconds), int(z.visits)) for z in msg.zone_dwell]
    zone_order = list(msg.zone_order)
    path = [(p.t, p.x, p.y) for p in msg.path]
    probabilities = dict(msg.behavior_probabilities)
    row = {
        "track_id": msg.track_id,
        "store_id": msg.store_id,
        "camera_id": msg.camera_id,
        "start_ts": start,
        "end_ts": end,
        "dwell_s": end - start,
        "distance_m": float(msg.distance_m),
        "mean_speed_mps": float(msg.mean_speed_mps),
        "max_speed_mps": float(msg.max_speed_mps),
        "stop_count": int(msg.stop_count),
        "behavior": msg.behavior or None,
        "probabilities": orjson.dumps(probabilities).decode() if probabilities else None,
        "zone_dwell": orjson.dumps(zone_dwell).decode(),
        "zone_order": orjson.dumps(zone_order).decode(),
        "path": orjson.dumps([[round(t, 3), round(x, 3), round(y, 3)] for t, x, y in path]).decode(),
        "detector_model": msg.detector_model,
        "behavior_model": msg.behavior_model,
        "received_at": received_at,
    }
    return SummaryIn(row, zone_dwell, zone_order, path, probabilities)


def tile_in(msg: pb.HeatmapTile, received_at: float) -> TileIn:
    values = list(msg.person_seconds)
    row = {
        "store_id": msg.store_id,
        "camera_id": msg.camera_id,
        "bucket_start": _ts(msg.bucket_start, msg.HasField("bucket_start")),
        "bucket_seconds": int(msg.bucket_seconds),
        "rows": int(msg.rows),
        "cols": int(msg.cols),
        "cells": np.asarray(values, dtype=np.float32).tobytes(),
        "received_at": received_at,
    }
    return TileIn(row, values)


def line_count_in(msg: pb.LineCount, received_at: float) -> LineCountIn:
    return LineCountIn(
        {
            "store_id": msg.store_id,
            "camera_id": msg.camera_id,
            "line_id": msg.line_id,
            "bucket_start": _ts(msg.bucket_start, msg.HasField("bucket_start")),
            "bucket_seconds": int(msg.bucket_seconds),
            "in_count": int(msg.in_count),
            "out_count": int(msg.out_count),
            "received_at": received_at,
        }
    )


def batch_in(request: pb.PushRequest, received_at: float) -> Batch:
    return Batch(
        agent_id=request.agent_id,
        store_id=request.store_id,
        batch_id=request.batch_id,
        summaries=[summary_in(s, received_at) for s in request.summaries],
        tiles=[tile_in(t, received_at) for t in request.tiles],
        line_counts=[line_count_in(c, received_at) for c in request.line_counts],
    )


def push_ack(batch_id: str, results: list[ItemResult]) -> pb.PushAck:
    return pb.PushAck(
        batch_id=batch_id,
        results=[
            pb.ItemResult(kind=_KIND[r.kind], key=r.key, status=_STATUS[r.status], reason=r.reason) for r in results
        ],
    )


def heartbeat_in(msg: pb.AgentHeartbeat) -> Heartbeat:
    return Heartbeat(
        agent_id=msg.agent_id,
        store_id=msg.store_id,
        sent_at=_ts(msg.sent_at, msg.HasField("sent_at")),
        agent_version=msg.agent_version,
        models=[{"name": m.name, "version": m.version, "sha256": m.sha256} for m in msg.models],
        cameras=[
            CameraReport(
                camera_id=c.camera_id,
                fps=round(float(c.fps), 3),
                frames_dropped=int(c.frames_dropped),
                connected=c.connected,
                last_error=c.last_error,
                zone_ids=list(c.zone_ids),
                line_ids=list(c.line_ids),
            )
            for c in msg.cameras
        ],
        outbox_backlog=int(msg.outbox_backlog),
        last_error=msg.last_error,
    )
