"""Everything that happens to one camera's detections: tracking, trajectories, zones, lines, heatmap.

Frame timestamps are seconds on the source's clock; ``clock_offset`` turns them
into Unix time (the recording's start for a file, 0 for a live source).
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import supervision as sv

from edge_agent.analytics.buckets import bucket_start
from edge_agent.analytics.heatmap import HeatmapAccumulator
from edge_agent.analytics.lines import LineMonitor
from edge_agent.analytics.zones import ZoneMonitor, ZoneVisit
from edge_agent.behavior.classifier import BehaviorClassifier
from edge_agent.config.models import AgentConfig, CameraConfig
from edge_agent.track.tracker import PersonTracker
from edge_agent.trajectory.floor import build_mapper
from edge_agent.trajectory.kinematics import downsample_indices, path_stats
from retail_common.summary import MAX_PATH_POINTS, LineCount, TrackSummary
from retail_common.taxonomy import LABELS

logger = logging.getLogger(__name__)


class NonFiniteOutputError(ValueError):
    """A model returned NaN or infinity where probabilities were expected."""


@dataclass
class OpenTrack:
    key: str = field(default_factory=lambda: str(uuid.uuid4()))
    times: list[float] = field(default_factory=list)
    feet: list[tuple[float, float]] = field(default_factory=list)
    heights: list[float] = field(default_factory=list)
    visits: list[ZoneVisit] = field(default_factory=list)


@dataclass(frozen=True)
class ZoneEvent:
    """A zone visit as counted for the report: ``exited`` is False when the track ended inside."""

    camera_id: str
    track_key: str
    visit: ZoneVisit
    exited: bool


class CameraPipeline:
    def __init__(
        self,
        agent: AgentConfig,
        camera: CameraConfig,
        width: int,
        height: int,
        fps: float,
        detector_model: str,
        clock_offset: float = 0.0,
        classifier: BehaviorClassifier | None = None,
        keep_zone_events: bool = True,
    ) -> None:
        self.agent, self.camera = agent, camera
        self.classifier = classifier
        self.detector_model = detector_model
        self.clock_offset = clock_offset
        self.tracker = PersonTracker(agent.tracker, fps)
        self.mapper = build_mapper(camera.calibration)
        self.zones = [ZoneMonitor(z) for z in camera.zones]
        self.lines = [LineMonitor(ln) for ln in camera.lines]
        hm = agent.heatmap
        self.heatmap = HeatmapAccumulator(agent.store_id, camera.id, width, height, hm.rows, hm.cols, hm.bucket_seconds)
        self.open_tracks: dict[int, OpenTrack] = {}
        self.zone_events: list[ZoneEvent] = []  # for analyze's report; a long-running agent keeps none
        self.keep_zone_events = keep_zone_events
        self.discarded_tracks = 0
        self._done: list[tuple[TrackSummary, np.ndarray, np.ndarray]] = []  # summary, full t, full xy
        self._line_buckets: dict[tuple[str, float], list[int]] = defaultdict(lambda: [0, 0])
        self.timings: dict[str, float] = defaultdict(float)

    def process(self, timestamp: float, detections: sv.Detections) -> sv.Detections:
        """Feed one frame's detections; returns the tracked ones (with ``tracker_id``)."""
        t = timestamp + self.clock_offset
        t0 = time.perf_counter()
        if self.camera.min_box_height_px > 0 and len(detections):
            tall = detections.xyxy[:, 3] - detections.xyxy[:, 1] >= self.camera.min_box_height_px
            detections = cast(sv.Detections, detections[tall])
        tracked = self.tracker.update(detections, timestamp)
        t1 = time.perf_counter()
        ids = [int(i) for i in (tracked.tracker_id if tracked.tracker_id is not None else [])]
        feet = tracked.get_anchors_coordinates(sv.Position.BOTTOM_CENTER) if ids else np.zeros((0, 2))
        heights = tracked.xyxy[:, 3] - tracked.xyxy[:, 1] if ids else np.zeros(0)
        for tid, (fx, fy), h in zip(ids, feet, heights, strict=True):
            track = self.open_tracks.setdefault(tid, OpenTrack())
            track.times.append(t)
            track.feet.append((float(fx), float(fy)))
            track.heights.append(float(h))
        for zone in self.zones:
            for tid, visit in zone.update(t, ids, feet):
                self.open_tracks[tid].visits.append(visit)
                if self.keep_zone_events:
                    self.zone_events.append(ZoneEvent(self.camera.id, self.open_tracks[tid].key, visit, exited=True))
        for line in self.lines:
            for crossing in line.update(t, ids, feet):
                bucket = bucket_start(t, self.agent.lines.bucket_seconds)
                self._line_buckets[(crossing.line_id, bucket)][0 if crossing.direction == "in" else 1] += 1
        self.heatmap.add(t, feet)
        self._expire(t)
        self.timings["tracking"] += t1 - t0
        self.timings["trajectories_zones"] += time.perf_counter() - t1
        return tracked

    def _expire(self, t: float) -> None:
        horizon = self.agent.tracker.lost_track_seconds + 0.5
        for tid in [tid for tid, tr in self.open_tracks.items() if t - tr.times[-1] > horizon]:
            self._finish(tid)

    def _finish(self, tid: int) -> None:
        track = self.open_tracks.pop(tid)
        for zone in self.zones:
            visit = zone.close(tid)
            if visit is not None:
                track.visits.append(visit)
                if self.keep_zone_events:
                    self.zone_events.append(ZoneEvent(self.camera.id, track.key, visit, exited=False))
        for line in self.lines:
            line.forget(tid)
        cfg = self.agent.tracker
        t = np.asarray(track.times)
        if len(t) < cfg.min_detections or t[-1] - t[0] < cfg.min_track_seconds:
            self.discarded_tracks += 1
            return
        xy = self.mapper.to_floor(np.asarray(track.feet), np.asarray(track.heights))
        self._done.append((self._summarize(track, t, xy), t, xy))

    def _summarize(self, track: OpenTrack, t: np.ndarray, xy: np.ndarray) -> TrackSummary:
        stats = path_stats(t, xy)
        idx = downsample_indices(t, MAX_PATH_POINTS)
        path = tuple((round(float(t[i] - t[0]), 3), round(float(xy[i, 0]), 3), round(float(xy[i, 1]), 3)) for i in idx)
        dwell: dict[str, float] = defaultdict(float)
        visits: dict[str, int] = defaultdict(int)
        ordered = sorted(track.visits, key=lambda v: v.start)
        for v in ordered:
            dwell[v.zone_id] += v.dwell_s
            visits[v.zone_id] += 1
        return TrackSummary(
            track_id=track.key,
            store_id=self.agent.store_id,
            camera_id=self.camera.id,
            start_time=float(t[0]),
            end_time=float(t[-1]),
            path=path,
            distance_m=round(stats.distance_m, 3),
            mean_speed_mps=round(stats.mean_speed_mps, 3),
            max_speed_mps=round(stats.max_speed_mps, 3),
            stop_count=stats.stop_count,
            zone_dwell={k: round(v, 2) for k, v in dwell.items()},
            zone_visits=dict(visits),
            zone_order=tuple(v.zone_id for v in ordered),
            detector_model=self.detector_model,
        )

    def take_summaries(self, require_finite: bool = False) -> list[TrackSummary]:
        """Summaries of the tracks that ended since the last call, classified together in one batch.

        When the model raises (or, with ``require_finite``, returns NaN or infinity: :class:`NonFiniteOutputError`)
        the tracks stay here, to be classified again by the model swapped back in."""
        done = self._done
        if not done or self.classifier is None:
            self._done = []
            return [s for s, _, _ in done]
        t0 = time.perf_counter()
        probs = self.classifier.label([(t, xy) for _, t, xy in done])
        self.timings["behavior"] += time.perf_counter() - t0
        if require_finite and not np.isfinite(probs).all():
            raise NonFiniteOutputError(f"behaviour model {self.classifier.model_version} returned non-finite values")
        self._done = []
        version = self.classifier.model_version
        return [
            dataclasses.replace(
                s,
                behavior=LABELS[int(p.argmax())],
                behavior_probabilities={label: round(float(v), 4) for label, v in zip(LABELS, p, strict=True)},
                behavior_model=version,
            )
            for (s, _, _), p in zip(done, probs, strict=True)
        ]

    def close(self) -> list[TrackSummary]:
        """End of the source: every open track ends now."""
        for tid in list(self.open_tracks):
            self._finish(tid)
        return self.take_summaries()

    def take_closed_line_counts(self, now: float) -> list[LineCount]:
        """Counts of the buckets that ended by ``now``, forgotten here."""
        b = self.agent.lines.bucket_seconds
        closed = sorted(k for k in self._line_buckets if k[1] + b <= now)
        out = [LineCount(self.agent.store_id, self.camera.id, k[0], k[1], b, *self._line_buckets[k]) for k in closed]
        for k in closed:
            del self._line_buckets[k]
        return out

    def line_counts(self) -> list[LineCount]:
        b = self.agent.lines.bucket_seconds
        return [
            LineCount(self.agent.store_id, self.camera.id, line_id, bucket, b, counts[0], counts[1])
            for (line_id, bucket), counts in sorted(self._line_buckets.items())
        ]
