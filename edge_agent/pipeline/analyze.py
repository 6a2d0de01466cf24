"""``retail-edge analyze``: one recorded video through the whole pipeline, results into a folder.

Outputs are written to a hidden temporary folder inside the destination and
moved into place only when everything succeeded, so a failed run never leaves
a half-written report behind.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from edge_agent.behavior.classifier import BehaviorClassifier
from edge_agent.config.models import AgentConfig, CameraConfig
from edge_agent.detect import Detector, build_detector
from edge_agent.ingest.video_source import Frame, VideoSource, prefetch
from edge_agent.pipeline.camera import CameraPipeline, ZoneEvent
from edge_agent.pipeline.render import Annotator, BackgroundPlate, render_heatmap
from edge_agent.store import EdgeStore
from retail_common.summary import TrackSummary

STORE_NAME = "store.db"
REPORT_NAME = "report.json"
HEATMAP_NAME = "heatmap.png"
STAGES = ("decode", "preprocess", "inference", "postprocess", "tracking", "trajectories_zones", "behavior", "storage")


@dataclass
class AnalyzeResult:
    out_dir: Path
    report: dict[str, Any]
    frames: int
    elapsed_s: float
    stage_s: dict[str, float] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0


def camera_for(config: AgentConfig, video: Path, camera_id: str | None) -> CameraConfig:
    """The configured camera whose zones and lines apply to this video (its source replaced by the video)."""
    if camera_id is not None:
        matches = [c for c in config.cameras if c.id == camera_id]
        if not matches:
            known = ", ".join(c.id for c in config.cameras) or "none"
            raise ValueError(f"camera {camera_id!r} is not in the configuration (cameras: {known})")
        return matches[0].model_copy(update={"source": str(video)})
    if config.cameras:
        return config.cameras[0].model_copy(update={"source": str(video)})
    return CameraConfig(id="cam-1", source=str(video))


def _decoded(
    frames: Iterator[Frame], detector: Detector[Any, Any], stage_s: dict[str, float]
) -> Iterator[tuple[Frame, Any]]:
    """Decode and pre-process, timed; run in the prefetch thread so both overlap inference."""
    while True:
        t0 = time.perf_counter()
        frame = next(frames, None)
        t1 = time.perf_counter()
        stage_s["decode"] += t1 - t0
        if frame is None:
            return
        batch = detector.preprocess([frame.image])
        stage_s["preprocess"] += time.perf_counter() - t1
        yield frame, batch


def analyze_video(
    video: Path,
    config: AgentConfig,
    out_dir: Path,
    *,
    camera_id: str | None = None,
    annotate: Path | None = None,
    start_time: float | None = None,
    progress: bool | None = None,
    detector: Detector[Any, Any] | None = None,
    classifier: BehaviorClassifier | None = None,
) -> AnalyzeResult:
    camera = camera_for(config, video, camera_id)
    detector = detector or build_detector(config.detector)  # a bad model fails before the video is opened
    classifier = classifier or BehaviorClassifier(config.behavior.model, threads=config.behavior.threads)
    source = VideoSource(str(video), camera.fps)
    work: Path | None = None
    annotate_tmp = annotate.with_name(f".{annotate.name}.partial{annotate.suffix}") if annotate else None
    try:
        duration = (source.frame_count or 0) / source.fps
        if start_time is None:
            # a recording's file is last written when the recording ends
            start_time = video.stat().st_mtime - duration
        out_dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".analyze-", dir=out_dir))
        result = _run(video, config, camera, source, detector, classifier, work, annotate_tmp, start_time, progress)
        for name in (STORE_NAME, REPORT_NAME, HEATMAP_NAME):
            os.replace(work / name, out_dir / name)
        if annotate and annotate_tmp:
            os.replace(annotate_tmp, annotate)
        result.out_dir = out_dir
        return result
    finally:
        source.close()
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
        if annotate_tmp is not None:
            annotate_tmp.unlink(missing_ok=True)


def _run(
    video: Path,
    config: AgentConfig,
    camera: CameraConfig,
    source: VideoSource,
    detector: Detector[Any, Any],
    classifier: BehaviorClassifier,
    work: Path,
    annotate_path: Path | None,
    start_time: float,
    progress: bool | None,
) -> AnalyzeResult:
    stage_s: dict[str, float] = defaultdict(float)
    pipeline = CameraPipeline(
        config,
        camera,
        source.width,
        source.height,
        source.fps,
        detector.model_version,
        clock_offset=start_time,
        classifier=classifier,
    )
    plate = BackgroundPlate()
    annotator = Annotator(annotate_path, camera, source.fps, (source.width, source.height)) if annotate_path else None
    store = EdgeStore(work / STORE_NAME)
    summaries: list[TrackSummary] = []
    frames = 0
    bar = tqdm(
        total=source.frame_count,
        unit="frame",
        desc=f"{camera.id}",
        disable=not (sys.stderr.isatty() if progress is None else progress),
        dynamic_ncols=True,
    )
    started = time.perf_counter()
    try:
        for frame, batch in prefetch(_decoded(source.frames(), detector, stage_s), size=4):
            t1 = time.perf_counter()
            raw = detector.infer(batch)
            t2 = time.perf_counter()
            detections = detector.postprocess(raw, batch)[0]
            t3 = time.perf_counter()
            stage_s["inference"] += t2 - t1
            stage_s["postprocess"] += t3 - t2
            tracked = pipeline.process(frame.timestamp, detections)
            plate.offer(frame.timestamp, frame.image, detections.xyxy)
            if annotator is not None:
                annotator.write(frame.image, tracked)
            ended = pipeline.take_summaries()  # timed by the pipeline as "behavior"
            if ended:
                t4 = time.perf_counter()
                store.add_summaries(ended)
                summaries.extend(ended)
                stage_s["storage"] += time.perf_counter() - t4
            frames += 1
            bar.update(1)
        ended = pipeline.close()
        t4 = time.perf_counter()
        store.add_summaries(ended)
        summaries.extend(ended)
        store.put_tiles(pipeline.heatmap.tiles())
        store.put_line_counts(pipeline.line_counts())
        stage_s["storage"] += time.perf_counter() - t4
    finally:
        bar.close()
        store.close()
        if annotator is not None:
            annotator.close()
    elapsed = time.perf_counter() - started
    stage_s["tracking"] = pipeline.timings["tracking"]
    stage_s["trajectories_zones"] = pipeline.timings["trajectories_zones"]
    stage_s["behavior"] = pipeline.timings["behavior"]
    render_heatmap(pipeline.heatmap.total(), plate.median(), (source.width, source.height), work / HEATMAP_NAME)
    report = build_report(
        video, config, camera, source, detector, pipeline, summaries, start_time, frames, elapsed, stage_s
    )
    tmp = work / (REPORT_NAME + ".tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, work / REPORT_NAME)
    return AnalyzeResult(work, report, frames, elapsed, dict(stage_s))


def _zone_report(zone_ids: list[str], events: list[ZoneEvent], start_time: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for zid in zone_ids:
        mine = sorted((e for e in events if e.visit.zone_id == zid), key=lambda e: e.visit.start)
        dwell = [e.visit.dwell_s for e in mine]
        out[zid] = {
            "entries": len(mine),
            "exits": sum(e.exited for e in mine),
            "dwell_total_s": round(float(sum(dwell)), 2),
            "dwell_mean_s": round(float(np.mean(dwell)), 2) if dwell else 0.0,
            "dwell_median_s": round(float(np.median(dwell)), 2) if dwell else 0.0,
            "visits": [
                {
                    "track_id": e.track_key,
                    "start_s": round(e.visit.start - start_time, 2),
                    "end_s": round(e.visit.end - start_time, 2),
                    "dwell_s": round(e.visit.dwell_s, 2),
                }
                for e in mine
            ],
        }
    return out


def build_report(
    video: Path,
    config: AgentConfig,
    camera: CameraConfig,
    source: VideoSource,
    detector: Detector[Any, Any],
    pipeline: CameraPipeline,
    summaries: list[TrackSummary],
    start_time: float,
    frames: int,
    elapsed: float,
    stage_s: dict[str, float],
) -> dict[str, Any]:
    kept = {s.track_id for s in summaries}
    events = [e for e in pipeline.zone_events if e.track_key in kept]
    lines: dict[str, dict[str, int]] = {ln.id: {"in": 0, "out": 0} for ln in camera.lines}
    for c in pipeline.line_counts():
        lines[c.line_id]["in"] += c.in_count
        lines[c.line_id]["out"] += c.out_count
    grid = pipeline.heatmap.total()
    tracks = []
    for s in sorted(summaries, key=lambda s: s.start_time):
        d = s.to_dict()
        d["start_s"] = round(s.start_time - start_time, 2)
        d["end_s"] = round(s.end_time - start_time, 2)
        tracks.append(d)
    return {
        "video": {
            "path": str(video),
            "width": source.width,
            "height": source.height,
            "fps": source.fps,
            "frames": frames,
            "duration_s": round(frames / source.fps, 2),
            "start_time": datetime.fromtimestamp(start_time, timezone.utc).isoformat(),
        },
        "store_id": config.store_id,
        "camera_id": camera.id,
        "detector": {
            "type": config.detector.type,
            "model": detector.model_version,
            "runtime": detector.runtime,
            "precision": detector.precision,
        },
        "visitors": len(summaries),
        "discarded_tracks": pipeline.discarded_tracks,
        "zones": _zone_report([z.id for z in camera.zones], events, start_time),
        "lines": lines,
        "heatmap": {
            "rows": grid.shape[0],
            "cols": grid.shape[1],
            "bucket_seconds": config.heatmap.bucket_seconds,
            "total_person_seconds": round(float(grid.sum()), 2),
            "image": HEATMAP_NAME,
        },
        "performance": {
            "frames": frames,
            "elapsed_s": round(elapsed, 3),
            "fps": round(frames / elapsed, 2) if elapsed > 0 else 0.0,
            "stage_ms_per_frame": {k: round(1000 * stage_s.get(k, 0.0) / max(frames, 1), 3) for k in STAGES},
        },
        "tracks": tracks,
    }
