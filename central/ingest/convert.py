"""Protobuf messages to ingest rows and results back to protobuf: the only ingest module that knows the proto."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp
from google.protobuf.unknown_fields import UnknownFieldSet
from retail_proto.v1 import edge_sync_pb2 as pb

from central.ingest.fleet import CameraReport, Heartbeat
from central.ingest.items import Batch, ItemResult, Kind, LineCountIn, Status, SummaryColumns, TileIn, UptimeIn
from central.rollout.assign import Assignment, InstallReport
from retail_common import pathcodec

_KIND = {
    Kind.SUMMARY: pb.ITEM_KIND_SUMMARY,
    Kind.TILE: pb.ITEM_KIND_TILE,
    Kind.LINE_COUNT: pb.ITEM_KIND_LINE_COUNT,
    Kind.CAMERA_UPTIME: pb.ITEM_KIND_CAMERA_UPTIME,
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


RETIRED_SUMMARIES = 4  # PushRequest.summaries, reserved in the proto


class MalformedPushError(ValueError):
    """A push whose columns do not fit together: no summary of it can be told from another."""


def _columns_problems(c: pb.SummaryColumns) -> Iterator[str]:
    """How the columns fail to fit together, if they do (lengths are checked before anything is read)."""
    n = len(c.track_id)
    per_summary = (
        "camera_id", "start_time", "end_time", "distance_m", "mean_speed_mps", "max_speed_mps", "stop_count",
        "behavior", "detector_model", "behavior_model", "path_points", "zone_dwell_count", "zone_order_count",
    )  # fmt: skip
    for name in per_summary:
        if len(getattr(c, name)) != n:
            yield f"{name} has {len(getattr(c, name))} entries for {n} summaries (track_id)"
    labels = list(c.probability_labels)
    if len(set(labels)) != len(labels):
        yield f"probability_labels {labels} name a label twice"
    if len(c.probabilities) != n * len(labels):
        yield f"probabilities has {len(c.probabilities)} values, not {n} summaries x {len(labels)} labels"
    points = sum(c.path_points)
    if len(c.path_t) != points or len(c.path_xy) != 2 * points:
        yield (
            f"path_t has {len(c.path_t)} and path_xy {len(c.path_xy)} values "
            f"where path_points makes {points} points (one t, and an x and a y, per point)"
        )
    zones = sum(c.zone_dwell_count)
    for name in ("zone_id", "zone_seconds", "zone_visits"):
        if len(getattr(c, name)) != zones:
            yield f"{name} has {len(getattr(c, name))} entries where zone_dwell_count makes {zones}"
    if len(c.zone_order) != sum(c.zone_order_count):
        yield f"zone_order has {len(c.zone_order)} entries where zone_order_count makes {sum(c.zone_order_count)}"


def _split(flat: list[Any], counts: np.ndarray) -> list[list[Any]]:
    ends = np.cumsum(counts).tolist()
    return [flat[a:b] for a, b in zip([0, *ends][:-1], ends, strict=True)]


def columns_in(c: pb.SummaryColumns, store_id: str, received_at: float) -> SummaryColumns:
    """A push's ``summary_columns`` as ingest's columns, each read as a whole; :class:`MalformedPushError` when
    they do not fit together."""
    problem = next(_columns_problems(c), None)
    if problem:
        raise MalformedPushError(f"summary_columns: {problem}")
    n = len(c.track_id)
    counts = np.array(c.path_points, dtype=np.int64)
    t = np.array(c.path_t, dtype=pathcodec.TIMES)
    xy = np.array(c.path_xy, dtype=pathcodec.XY)
    points = np.empty((len(t), 3))
    points[:, 0] = t
    points[:, 1:] = xy.reshape(-1, 2)
    t_bytes, xy_bytes = t.tobytes(), xy.tobytes()
    ends = (np.cumsum(counts) * pathcodec.TIMES.itemsize).tolist()
    stored = [t_bytes[a:b] + xy_bytes[a:b] for a, b in zip([0, *ends][:-1], ends, strict=True)]
    zone_entries = list(
        zip(c.zone_id, np.array(c.zone_seconds, dtype=np.float64).tolist(), list(c.zone_visits), strict=True)
    )
    labels = list(c.probability_labels)
    probabilities: list[dict[str, float]] = [{} for _ in range(n)]
    if labels:
        table = np.array(c.probabilities, dtype=np.float64).reshape(n, len(labels))
        given = ~np.isnan(table)
        for i, (row, has) in enumerate(zip(table.tolist(), given.tolist(), strict=True)):
            probabilities[i] = {k: v for k, v, h in zip(labels, row, has, strict=True) if h}
    return SummaryColumns(
        track_id=list(c.track_id),
        store_id=[store_id] * n,
        camera_id=list(c.camera_id),
        start_ts=np.array(c.start_time, dtype=np.float64),
        end_ts=np.array(c.end_time, dtype=np.float64),
        distance_m=np.array(c.distance_m, dtype=np.float64),
        mean_speed_mps=np.array(c.mean_speed_mps, dtype=np.float64),
        max_speed_mps=np.array(c.max_speed_mps, dtype=np.float64),
        stop_count=np.array(c.stop_count, dtype=np.int64),
        behavior=[b or None for b in c.behavior],
        probabilities=probabilities,
        zone_dwell=_split(zone_entries, np.array(c.zone_dwell_count, dtype=np.int64)),
        zone_order=_split(list(c.zone_order), np.array(c.zone_order_count, dtype=np.int64)),
        path_counts=counts,
        points=points,
        stored_paths=stored,
        detector_model=list(c.detector_model),
        behavior_model=list(c.behavior_model),
        received_at=received_at,
    )


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


def uptime_in(msg: pb.CameraUptime, store_id: str, received_at: float) -> UptimeIn:
    """A camera's uptime in one bucket; its store is the push's (the message names none)."""
    return UptimeIn(
        {
            "store_id": store_id,
            "camera_id": msg.camera_id,
            "bucket_start": _ts(msg.bucket_start, msg.HasField("bucket_start")),
            "bucket_seconds": int(msg.bucket_seconds),
            "seconds_up": float(msg.seconds_up),
            "received_at": received_at,
        }
    )


def batch_in(request: pb.PushRequest, received_at: float) -> Batch:
    """The push as ingest's items: its summaries (as columns), tiles and line counts."""
    unknown = UnknownFieldSet(request)
    if any(unknown[i].field_number == RETIRED_SUMMARIES for i in range(len(unknown))):
        # acknowledging the push without them would tell an old agent they were stored
        raise MalformedPushError(
            f"summaries sent as TrackSummary messages (PushRequest field {RETIRED_SUMMARIES}) are no longer read: "
            "upgrade the agent, which then sends them as summary_columns"
        )
    summaries = columns_in(request.summary_columns, request.store_id, received_at)
    return Batch(
        agent_id=request.agent_id,
        store_id=request.store_id,
        batch_id=request.batch_id,
        summaries=summaries,
        tiles=[tile_in(t, received_at) for t in request.tiles],
        line_counts=[line_count_in(c, received_at) for c in request.line_counts],
        uptimes=[uptime_in(u, request.store_id, received_at) for u in request.camera_uptime],
    )


def push_ack(batch_id: str, results: list[ItemResult]) -> pb.PushAck:
    ack = pb.PushAck(batch_id=batch_id)
    add = ack.results.add  # twice as fast as building ItemResult messages and a list of them
    for r in results:
        if r.reason:
            add(kind=_KIND[r.kind], key=r.key, status=_STATUS[r.status], reason=r.reason)
        else:
            add(kind=_KIND[r.kind], key=r.key, status=_STATUS[r.status])
    return ack


def heartbeat_in(msg: pb.AgentHeartbeat) -> Heartbeat:
    return Heartbeat(
        agent_id=msg.agent_id,
        store_id=msg.store_id,
        sent_at=_ts(msg.sent_at, msg.HasField("sent_at")),
        agent_version=msg.agent_version,
        models=[
            {"name": m.name, "version": m.version, "sha256": m.sha256, "runtime": m.runtime, "precision": m.precision}
            for m in msg.models
        ],
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


def installs_in(msg: pb.AgentHeartbeat) -> list[InstallReport]:
    """The heartbeat's install reports (a missing time reads NaN, which the check refuses)."""
    return [
        InstallReport(
            rollout_id=i.rollout_id,
            model_name=i.model.name,
            version=i.model.version,
            state=int(i.state),
            failure_code=i.failure_code,
            message=i.message,
            at=_ts(i.at, i.HasField("at")),
            bytes_done=int(i.bytes_done),
        )
        for i in msg.installs
    ]


def assignments_out(found: list[Assignment]) -> list[pb.ModelAssignment]:
    return [
        pb.ModelAssignment(
            model=pb.ModelVersion(name=a.model_name, version=a.version, sha256=a.sha256),
            size_bytes=a.size_bytes,
            rollout_id=a.rollout_id,
        )
        for a in found
    ]
