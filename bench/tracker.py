"""Per-frame cost of the ByteTrack implementations the edge agent can use, on synthetic detections.

Measures, on the same pre-generated detections (``--detections`` people, default 30,
moving smoothly across the frame with per-frame jitter and a mix of high and low
confidences, so that both of ByteTrack's association stages run):

* ``edge_agent.track.tracker.PersonTracker``: what the pipeline calls (``trackers.ByteTrackTracker``
  with the project's default ``TrackerConfig``, fed stream timestamps, output filtered to confirmed tracks);
* bare ``trackers.ByteTrackTracker`` with the same settings and timestamps, and with the package's defaults;
* ``supervision.ByteTrack`` (removed in supervision 0.31) with equivalent settings, where it exists.

Whatever is not importable is printed as a "not installed" row, so the script also runs in
an environment with only supervision, e.g. supervision 0.30 for the old ``sv.ByteTrack``::

    .venv/bin/python bench/tracker.py                       # the project's venv
    python3.11 -m venv /tmp/sv030
    /tmp/sv030/bin/pip install 'supervision==0.30.*' numpy 'opencv-python<5'
    /tmp/sv030/bin/python bench/tracker.py                  # supervision 0.30's sv.ByteTrack

Options: ``--frames`` (default 2000), ``--repeat`` (fresh tracker each time; per-frame times are
pooled), ``--detections``, ``--video`` (only its frame size and rate are used, when OpenCV can
read it; 768x432 at 10 fps otherwise). Times are wall-clock per ``update`` call; the detections
are built before timing starts.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DEFAULT_VIDEO = SHARED / "data" / "intel-sample-videos" / "one-by-one-person-detection.mp4"

# the project's TrackerConfig defaults, used when edge_agent itself cannot be imported
ACTIVATION, HIGH_CONF, MIN_IOU, MIN_FRAMES, LOST_S = 0.5, 0.5, 0.1, 3, 4.0

Update = Callable[[Any, float], Any]


@dataclass
class Row:
    name: str
    version: str
    times_ms: list[float]
    ids: int = 0
    note: str = ""


def version_of(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def video_geometry(video: Path) -> tuple[int, int, float, str]:
    """(width, height, fps, where from) of ``video``, or the shared clip's values when it cannot be read."""
    try:
        import cv2
    except ImportError:
        return 768, 432, 10.0, "default (OpenCV not installed)"
    if not video.is_file():
        return 768, 432, 10.0, f"default ({video} not found)"
    cap = cv2.VideoCapture(str(video))
    try:
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(cap.get(cv2.CAP_PROP_FPS))
    finally:
        cap.release()
    if w <= 0 or h <= 0:
        return 768, 432, 10.0, f"default ({video.name} unreadable)"
    return w, h, fps if 0 < fps < 1000 else 10.0, video.name


def synthetic_tracks(frames: int, people: int, width: int, height: int, seed: int = 0) -> list[np.ndarray]:
    """Per frame an (people, 5) array x1, y1, x2, y2, confidence: boxes gliding and bouncing off the edges."""
    rng = np.random.default_rng(seed)
    size = np.stack([rng.uniform(0.03, 0.06, people) * width, rng.uniform(0.15, 0.3, people) * height], axis=1)
    pos = rng.uniform(0, 1, (people, 2)) * ([width, height] - size)
    vel = rng.uniform(-1, 1, (people, 2)) * [width, height] * 0.006  # up to ~0.6 % of the frame per frame
    base_conf = np.where(rng.uniform(size=people) < 0.8, rng.uniform(0.6, 0.95, people), rng.uniform(0.3, 0.5, people))
    out = []
    for _ in range(frames):
        pos += vel
        for axis, limit in ((0, width), (1, height)):
            low, high = pos[:, axis] < 0, pos[:, axis] + size[:, axis] > limit
            vel[low | high, axis] *= -1
            pos[:, axis] = np.clip(pos[:, axis], 0, limit - size[:, axis])
        jitter = rng.normal(0, 1.0, (people, 4))
        xyxy = np.concatenate([pos, pos + size], axis=1) + jitter
        conf = np.clip(base_conf + rng.normal(0, 0.05, people), 0.05, 1.0)
        out.append(np.concatenate([xyxy, conf[:, None]], axis=1))
    return out


def as_detections(sv: Any, rows: list[np.ndarray]) -> list[Any]:
    return [
        sv.Detections(
            xyxy=r[:, :4].astype(np.float32),
            confidence=r[:, 4].astype(np.float32),
            class_id=np.zeros(len(r), dtype=int),
        )
        for r in rows
    ]


def time_tracker(
    sv: Any, make: Callable[[], Update], boxes: list[np.ndarray], fps: float, repeat: int
) -> tuple[list[float], int]:
    """Per-call milliseconds over ``repeat`` fresh trackers, and confirmed ids issued in the last run."""
    warm = make()
    for i, det in enumerate(as_detections(sv, boxes[:50])):
        warm(det, i / fps)
    times: list[float] = []
    ids: set[int] = set()
    for _ in range(repeat):
        update = make()
        dets = as_detections(sv, boxes)
        ids = set()
        for i, det in enumerate(dets):
            t0 = time.perf_counter()
            tracked = update(det, i / fps)
            times.append(1000 * (time.perf_counter() - t0))
            if tracked.tracker_id is not None:
                ids.update(int(t) for t in tracked.tracker_id if t >= 0)
    return times, len(ids)


def measure(args: argparse.Namespace, boxes: list[np.ndarray], fps: float) -> list[Row]:
    rows: list[Row] = []
    try:
        sv = importlib.import_module("supervision")
    except ImportError:
        return [Row("all trackers (detections are sv.Detections)", "-", [], note="not installed: supervision")]
    sv_version = version_of("supervision")

    try:
        from edge_agent.config.models import TrackerConfig
        from edge_agent.track.tracker import PersonTracker

        config = TrackerConfig()

        def make_person() -> Update:
            return PersonTracker(config, fps).update

        times, ids = time_tracker(sv, make_person, boxes, fps, args.repeat)
        rows.append(Row("edge_agent PersonTracker (trackers.ByteTrackTracker)", version_of("trackers"), times, ids))
    except ImportError as e:
        rows.append(Row("edge_agent PersonTracker", "-", [], note=f"not installed: {e.name or e}"))

    try:
        trackers = importlib.import_module("trackers")
        lost_buffer = max(1, round(LOST_S * 30))

        def make_bare() -> Update:
            tracker = trackers.ByteTrackTracker(
                lost_track_buffer=lost_buffer,
                frame_rate=fps,
                track_activation_threshold=ACTIVATION,
                minimum_consecutive_frames=MIN_FRAMES,
                minimum_iou_threshold=MIN_IOU,
                high_conf_det_threshold=HIGH_CONF,
            )
            return lambda det, ts: tracker.update(det, timestamp=ts)

        def make_default() -> Update:
            tracker = trackers.ByteTrackTracker()
            return lambda det, ts: tracker.update(det)

        version = version_of("trackers")
        times, ids = time_tracker(sv, make_bare, boxes, fps, args.repeat)
        rows.append(Row("trackers.ByteTrackTracker (project settings, timestamps)", version, times, ids))
        times, ids = time_tracker(sv, make_default, boxes, fps, args.repeat)
        rows.append(Row("trackers.ByteTrackTracker (package defaults, frame steps)", version, times, ids))
    except ImportError as e:
        rows.append(Row("trackers.ByteTrackTracker", "-", [], note=f"not installed: {e.name or e}"))
    except AttributeError:
        rows.append(Row("trackers.ByteTrackTracker", version_of("trackers"), [], note="not in this trackers version"))

    if hasattr(sv, "ByteTrack"):

        def make_sv() -> Update:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # deprecated since 0.28
                tracker = sv.ByteTrack(
                    track_activation_threshold=ACTIVATION,
                    lost_track_buffer=max(1, round(LOST_S * 30)),
                    frame_rate=fps,
                    minimum_consecutive_frames=MIN_FRAMES,
                )
            return lambda det, ts: tracker.update_with_detections(det)

        times, ids = time_tracker(sv, make_sv, boxes, fps, args.repeat)
        rows.append(Row("supervision.ByteTrack (equivalent settings)", sv_version, times, ids))
    else:
        rows.append(
            Row("supervision.ByteTrack", sv_version, [], note=f"not installed: removed in supervision {sv_version}")
        )
    return rows


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def print_table(headers: list[str], rows: list[list[str]], right: set[int]) -> None:
    full = [r for r in rows if len(r) == len(headers)]
    widths = [max([len(h)] + [len(r[i]) for r in full]) for i, h in enumerate(headers)]

    def fmt(cells: list[str]) -> str:
        out = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=False))]
        if len(cells) < len(headers):
            out[-1] = cells[-1]  # a short row ends in a free-text note
        return "  ".join(out).rstrip()

    print(fmt(headers))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(fmt(r))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--video", type=Path, default=DEFAULT_VIDEO, help="frame size and rate come from this video (%(default)s)"
    )
    parser.add_argument("--frames", type=int, default=2000, help="frames per tracker run (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="fresh runs per tracker, pooled (default: %(default)s)")
    parser.add_argument("--detections", type=int, default=30, help="people per frame (default: %(default)s)")
    args = parser.parse_args(argv)
    for name in ("frames", "repeat", "detections"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    width, height, fps, where = video_geometry(args.video)
    boxes = synthetic_tracks(args.frames, args.detections, width, height)
    print(
        f"machine: os.cpu_count()={os.cpu_count()}, {platform.platform()}; python {platform.python_version()} "
        f"({sys.executable}); numpy {np.__version__}"
    )
    print(
        f"input: {args.detections} synthetic detections per frame, {args.frames} frames x {args.repeat} runs, "
        f"{width}x{height} at {fps:g} fps ({where}); ~80 % of people at confidence 0.6-0.95, the rest 0.3-0.5"
    )
    print()
    rows = measure(args, boxes, fps)
    table = []
    for r in rows:
        if r.times_ms:
            table.append(
                [
                    r.name,
                    r.version,
                    f"{statistics.median(r.times_ms):.3f}",
                    f"{percentile(r.times_ms, 95):.3f}",
                    f"{statistics.fmean(r.times_ms):.3f}",
                    str(r.ids),
                ]
            )
        else:
            table.append([r.name, r.version, r.note])
    print_table(
        ["tracker", "package version", "ms/frame median", "p95", "mean", "ids issued"], table, right={2, 3, 4, 5}
    )
    print()
    print(
        f"ids issued: distinct confirmed ids in the last run, a sanity check: of the {args.detections} people, those "
        "never reaching the activation threshold get none; more ids than people means id switches."
    )


if __name__ == "__main__":
    main()
