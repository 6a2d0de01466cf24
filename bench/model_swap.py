"""Model swaps while a camera runs at its full rate: frames dropped (the agent's own counters) and memory.

The real :class:`edge_agent.runtime.agent.Agent` runs one camera (the Intel clip, read at its own 10 fps,
looped, adaptive sampling off so every frame goes to the detector) with the random-weight YOLOv8n (dynamic,
``--imgsz``) and the packaged behaviour model. Its models folder holds two versions of each (the same bytes
under two registry versions), so the updater takes each assignment from disk: verify the SHA-256, load a new
ONNX Runtime session, smoke-test, swap between two detector batches. Three windows of ``--seconds`` each:
no swap, swaps every ``--every`` seconds (detector and behaviour model together), no swap again. For each:
frames sampled, frames dropped (and how many of them within 0.25 s of a hand-over), swaps done, resident memory
(median and peak, sampled every 10 ms). Loading and smoke-testing a model takes CPU from the frame path on a
small box: drops away from the hand-over come from that, not from the swap itself.

    .venv/bin/python bench/model_swap.py [--seconds 20] [--every 2] [--imgsz 320] [--probation 600]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from edge_agent.behavior.classifier import default_model_path
from edge_agent.config.models import AgentConfig
from edge_agent.runtime.agent import Agent
from edge_agent.updater.download import file_name
from edge_agent.updater.manifest import Manifest, file_sha256
from edge_agent.updater.policy import BEHAVIOR, DETECTOR, Assignment, Installed
from retail_common.rollout import BEHAVIOR_MODEL, DETECTOR_MODEL

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CLIP = SHARED / "data" / "intel-sample-videos" / "one-by-one-person-detection.mp4"
YOLO = SHARED / "models" / "yolov8n-random-dynamic.onnx"
WARMUP_S = 5.0


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class Sampler:
    """Every 10 ms: resident memory, and the camera's dropped-frame and the scheduler's swap counters."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.samples: list[tuple[float, float, int, int]] = []  # (monotonic, RSS MB, dropped, swaps)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        worker = self.agent.workers["cam1"]
        scheduler = self.agent.scheduler
        if scheduler is None:
            raise RuntimeError("the agent is not started")
        while not self.stop.wait(0.01):
            with worker.lock:
                dropped = worker.stats.frames_dropped
            self.samples.append((time.monotonic(), rss_mb(), dropped, scheduler.models.swaps_done))

    def take(self) -> list[tuple[float, float, int, int]]:
        out, self.samples = self.samples, []
        return out


def around_swaps(samples: list[tuple[float, float, int, int]], half_s: float) -> tuple[int, int]:
    """Frames dropped within ``half_s`` of a hand-over (the moment the swap counter moved), and the swaps."""
    moments = [t for (t, _, _, n), (_, _, _, before) in zip(samples[1:], samples, strict=False) if n > before]
    dropped = 0
    for moment in moments:
        inside = [d for t, _, d, _ in samples if moment - half_s <= t <= moment + half_s]
        if inside:
            dropped += inside[-1] - inside[0]
    return dropped, len(moments)


def versions(folder: Path, name: str, source: Path, numbers: tuple[str, str]) -> list[Assignment]:
    """Two registry versions of the same file, placed in the models folder as the updater names them."""
    sha, size = file_sha256(source), source.stat().st_size
    out = []
    for number in numbers:
        a = Assignment(name, number, sha, size, f"bench-{number}")
        shutil.copyfile(source, folder / file_name(a))
        out.append(a)
    return out


def installed(a: Assignment) -> Installed:
    return Installed(a.name, a.version, a.sha256, a.size_bytes, file_name(a), a.rollout_id)


@dataclass
class Window:
    name: str
    seconds: float
    read: int
    dropped: int
    swaps: int
    rss_median: float
    rss_peak: float
    dropped_at_swaps: int


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--every", type=float, default=2.0, help="seconds between swaps in the swap window")
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--probation", type=float, default=600.0, help="updates.probation_s")
    parser.add_argument(
        "--fps", type=float, default=None, help="runtime.active_fps: sample the camera below its 10 fps (default: all)"
    )
    args = parser.parse_args()
    for path in (CLIP, YOLO):
        if not path.exists():
            raise SystemExit(f"needs {path} (the ../shared folder beside the checkout)")
    logging.basicConfig(level=logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="model-swap-"))
    models = work / "models"
    models.mkdir()
    detectors = versions(models, DETECTOR_MODEL, YOLO, ("1", "2"))
    behaviours = versions(models, BEHAVIOR_MODEL, default_model_path(), ("101", "102"))
    manifest = Manifest(models)
    for kind, (first, second) in ((DETECTOR, detectors), (BEHAVIOR, behaviours)):
        manifest.activate(kind, installed(second))
        manifest.activate(kind, installed(first))  # active: the first, previous: the second
    config = AgentConfig.model_validate(
        {
            "store_id": "bench",
            "detector": {"type": "onnx", "model": str(YOLO), "imgsz": args.imgsz},
            "store": {"path": str(work / "edge.db")},
            "cameras": [{"id": "cam1", "source": str(CLIP), "loop": True, "realtime": True}],
            "runtime": {"health": {"port": 0}, "idle_fps": 120, "idle_after_s": 3600, "active_fps": args.fps},
            "updates": {"models_dir": str(models), "probation_s": args.probation},
        }
    )
    agent = Agent(config)
    agent.start()
    updater, scheduler = agent.updater, agent.scheduler
    if updater is None or scheduler is None:
        raise RuntimeError("the agent did not start")
    loop = threading.Thread(target=agent.loop, daemon=True)
    loop.start()
    stop_updater = threading.Event()
    updater_thread = threading.Thread(target=updater.run, args=(stop_updater,), daemon=True)
    updater_thread.start()
    sampler = Sampler(agent)
    sampler.thread.start()
    worker = agent.workers["cam1"]
    time.sleep(WARMUP_S)
    sampler.take()
    windows = []
    for name, swapping in (("no swap", False), ("swapping", True), ("no swap, after", False)):
        with worker.lock:
            read0, dropped0 = worker.stats.frames_queued, worker.stats.frames_dropped
        swaps0 = scheduler.models.swaps_done
        t0 = time.monotonic()
        turn = 1
        while time.monotonic() - t0 < args.seconds:
            if swapping:
                updater.assign([detectors[turn % 2], behaviours[turn % 2]])
                turn += 1
            time.sleep(args.every if swapping else 0.5)
        with worker.lock:
            read, dropped = worker.stats.frames_queued - read0, worker.stats.frames_dropped - dropped0
        samples = sampler.take()
        rss = [r for _, r, _, _ in samples]
        windows.append(
            Window(
                name,
                time.monotonic() - t0,
                read,
                dropped,
                scheduler.models.swaps_done - swaps0,
                statistics.median(rss),
                max(rss),
                around_swaps(samples, 0.25)[0],
            )
        )
    stop_updater.set()
    agent.stop.set()
    loop.join(30)
    updater_thread.join(30)
    agent.shutdown()
    sampler.stop.set()
    shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()
    print(
        f"camera 10 fps (Intel clip) sampled at {args.fps or 10:g} fps, YOLOv8n random weights dynamic at "
        f"{args.imgsz}, packaged behaviour model; "
        f"swap every {args.every:g} s; probation {args.probation:g} s; load average {load[0]:.1f} on "
        f"{os.cpu_count()} CPUs"
    )
    print(
        "| window | seconds | frames sampled | frames dropped | swaps | dropped within 0.25 s of a swap | "
        "RSS median MB | RSS peak MB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for w in windows:
        print(
            f"| {w.name} | {w.seconds:.1f} | {w.read} | {w.dropped} | {w.swaps} | {w.dropped_at_swaps} | "
            f"{w.rss_median:.0f} | {w.rss_peak:.0f} |"
        )
    base = windows[0]
    print(
        f"extra memory while swapping: peak {windows[1].rss_peak - base.rss_median:+.0f} MB over the first "
        f"window's median; after: median {windows[2].rss_median - base.rss_median:+.0f} MB"
    )


if __name__ == "__main__":
    main()
