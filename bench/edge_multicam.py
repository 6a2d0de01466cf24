"""Several cameras on one shared detector: ``retail-edge run``'s scheduler measured end to end.

Two measures, with the random-weight YOLOv8n (dynamic batch) at each ``--sizes``:

* **throughput**: 1, 2, 4 and 8 file sources read as fast as they decode (``realtime: false``,
  looping); total frames per second through the detector, mean batch size, frames dropped,
  CPU use and peak memory. Target: four cameras together at >= 0.9 of one camera alone.
* **capacity**: sources at their real-time rate (the Intel clip is 10 fps); the most cameras
  sustained with no frame dropped after a warm-up, with the full frame rate and with the
  adaptive frame rate (``idle_fps`` 2 after 3 s with nobody in view). The random-weight model
  never sees anybody, so with adaptive sampling every camera idles: that row is the upper
  bound, reached in a store at night; real weights sit between the two rows.

Every configuration runs the real :class:`edge_agent.runtime.agent.Agent` in a fresh
subprocess (so peak memory is its own), behaviour model and SQLite store included.

``--rows`` picks the detectors: ``fp32`` (ONNX Runtime), ``int8`` (the same model quantized by
``retail-edge optimize``'s quantizer, made once by ``bench/edge_pipeline.py`` into ``--int8-dir``),
``ov-fp32`` / ``ov-int8`` (the ``openvino`` backend).

    .venv/bin/python bench/edge_multicam.py [--seconds 20] [--sizes 640 320] [--counts 1 2 4 8] [--rows fp32 int8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
WARMUP_S = 4.0


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Runs the agent for ``spec['seconds']`` and reports what it did after the warm-up."""
    import logging

    from edge_agent.config.models import AgentConfig
    from edge_agent.runtime.agent import Agent

    logging.basicConfig(level=logging.WARNING)
    work = Path(spec["work"])
    cameras = [
        {
            "id": f"cam{i}",
            "source": spec["video"],
            "loop": True,
            "realtime": spec["realtime"],
            "min_box_height_px": 0,
        }
        for i in range(spec["cameras"])
    ]
    config = AgentConfig.model_validate(
        {
            "store_id": "bench",
            "detector": {
                "type": spec["backend"],
                "model": spec["model"],
                "imgsz": spec["imgsz"],
                "rect": True,
                "threads": spec["threads"],
                "max_batch": 8,
            },
            "store": {"path": str(work / "edge.db")},
            "cameras": cameras,
            "runtime": {
                "health": {"port": 0},
                "max_batch": 8,
                "idle_fps": spec["idle_fps"] or 120,
                "idle_after_s": 3.0 if spec["idle_fps"] else 3600,
            },
        }
    )
    agent = Agent(config)
    marks: dict[str, dict[str, Any]] = {}

    def mark(name: str) -> None:
        snap = agent.status()
        marks[name] = {
            "t": time.perf_counter(),
            "cpu": sum(os.times()[:2]),
            "frames": snap.batched_frames,
            "batches": snap.batches,
            "dropped": sum(c.frames_dropped for c in snap.cameras),
            "read": sum(c.frames_read for c in snap.cameras),
        }

    threading.Timer(WARMUP_S, mark, args=("start",)).start()

    def finish() -> None:
        mark("end")
        agent.stop.set()

    threading.Timer(WARMUP_S + spec["seconds"], finish).start()
    agent.run()
    a, b = marks["start"], marks["end"]
    elapsed = b["t"] - a["t"]
    frames = b["frames"] - a["frames"]
    batches = b["batches"] - a["batches"]
    with open("/proc/self/status") as f:
        hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    return {
        "fps": frames / elapsed,
        "mean_batch": frames / batches if batches else 0.0,
        "dropped": b["dropped"] - a["dropped"],
        "read": b["read"] - a["read"],
        "cpu_pct": 100 * (b["cpu"] - a["cpu"]) / elapsed,
        "peak_mb": hwm / 1024,
    }


def run(spec: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        spec = {**spec, "work": tmp}
        done = subprocess.run(
            [sys.executable, __file__, "--worker", json.dumps(spec)],
            capture_output=True,
            text=True,
            check=False,
            cwd=REPO,
        )
    if done.returncode:
        raise RuntimeError(f"worker failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def throughput(base: dict[str, Any], args: argparse.Namespace) -> None:
    print("Throughput: file sources read as fast as they decode")
    header = (
        f"{'input':>6s} {'cameras':>8s} {'total fps':>10s} {'vs 1 cam':>9s} {'mean batch':>11s} "
        f"{'dropped/s':>10s} {'CPU %':>6s} {'peak MB':>8s}"
    )
    print(header)
    for size in args.sizes:
        single = None
        for n in args.counts:
            r = run({**base, "imgsz": size, "cameras": n, "realtime": False, "idle_fps": None})
            single = single or r["fps"]
            print(
                f"{size:6d} {n:8d} {r['fps']:10.1f} {r['fps'] / single:9.2f} {r['mean_batch']:11.2f} "
                f"{r['dropped'] / args.seconds:10.1f} {r['cpu_pct']:6.0f} {r['peak_mb']:8.0f}",
                flush=True,
            )
    print()


def capacity_search(dropped: Callable[[int], float], most: int) -> tuple[int, tuple[int, float] | None]:
    """The most cameras sustained with nothing dropped, and the first count that dropped (with its drops):
    1 to 4 one at a time, then doubling up to ``most``, then halving the gap to the first failure."""
    sustained, failing = 0, None
    n = 1
    while n <= most:
        d = dropped(n)
        if d > 0:
            failing = (n, d)
            break
        sustained = n
        n = n + 1 if n < 4 else (min(n * 2, most) if n < most else most + 1)
    while failing is not None and failing[0] - sustained > 1:
        mid = (sustained + failing[0]) // 2
        d = dropped(mid)
        if d > 0:
            failing = (mid, d)
        else:
            sustained = mid
    return sustained, failing


def capacity(base: dict[str, Any], args: argparse.Namespace) -> None:
    print("Capacity: cameras at their real-time rate (10 fps) sustained with no dropped frame")
    print(f"{'input':>6s} {'sampling':>22s} {'cameras sustained':>18s} {'first failing (dropped/s)':>26s}")
    for size in args.sizes:
        for label, idle in (("full rate", None), ("adaptive (idle 2 fps)", 2.0)):

            def dropped(n: int, size: int = size, idle: float | None = idle) -> float:
                return float(run({**base, "imgsz": size, "cameras": n, "realtime": True, "idle_fps": idle})["dropped"])

            sustained, failing = capacity_search(dropped, args.capacity_max)
            shown = f"{failing[0]} ({failing[1] / args.seconds:.1f})" if failing else "-"
            print(f"{size:6d} {label:>22s} {sustained:18d} {shown:>26s}", flush=True)
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--models", type=Path, default=SHARED / "models")
    parser.add_argument(
        "--video", type=Path, default=SHARED / "data" / "intel-sample-videos" / "one-by-one-person-detection.mp4"
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per configuration")
    parser.add_argument("--sizes", type=int, nargs="+", default=[640, 320])
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--capacity-max", type=int, default=16)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="ONNX Runtime intra-op threads")
    parser.add_argument("--rows", nargs="+", choices=["fp32", "int8", "ov-fp32", "ov-int8"], default=["fp32", "int8"])
    parser.add_argument(
        "--int8-dir",
        type=Path,
        default=Path.home() / ".cache" / "retail-analytics" / "bench-int8",
        help="where bench/edge_pipeline.py keeps its INT8 models",
    )
    parser.add_argument("--skip-throughput", action="store_true", help="the capacity table only")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    model = args.models / "yolov8n-random-dynamic.onnx"
    int8 = args.int8_dir / "yolov8n-random-dynamic-int8.onnx"
    rows = {
        "fp32": ("onnx", model),
        "int8": ("onnx", int8),
        "ov-fp32": ("openvino", model),
        "ov-int8": ("openvino", int8),
    }
    for path in (model, args.video, *(rows[r][1] for r in args.rows)):
        if not path.exists():
            sys.exit(
                f"missing {path} (the ../shared folder beside the checkout; INT8 models: run "
                "bench/edge_pipeline.py --configs rect640-int8 once, or pass --int8-dir)"
            )
    base = {"video": str(args.video), "seconds": args.seconds, "threads": args.threads}
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"random-weight YOLOv8n (dynamic), rect letterbox, {args.seconds:.0f} s measured after {WARMUP_S:.0f} s")
    print()
    for row in args.rows:
        backend, path = rows[row]
        spec = {**base, "backend": backend, "model": str(path)}
        print(f"== {row}: {backend} {path.name}")
        if not args.skip_throughput:
            throughput(spec, args)
        capacity(spec, args)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"\nworkers' CPU time in all: {usage.ru_utime + usage.ru_stime:.0f} s")


if __name__ == "__main__":
    main()
