"""INT8 (and OpenVINO FP32 / BF16) against FP32 on the real person model: detections, then `analyze`'s results.

1. ``retail-edge optimize``'s path on the real YOLOv8s person model (``../shared/models/person-yolov8s-real.onnx``,
   classes 0 and 1) and the Intel clip: frames spread over the clip, one in four held out, INT8 quantized on the
   rest and checked; the checked file is written to ``--out``.
2. The agreement table: each runtime and precision against FP32 ONNX Runtime on the held-out frames (recall,
   precision, mean IoU of IoU-matched boxes).
3. ``analyze`` over the whole clip with each: visitors, table entries and dwell per visit, line counts; the target
   is the same visitors and line counts as FP32 and every visit's dwell within a second.

Run from the repository root (the real model costs ~0.1-1 s a frame on 2 cores: the whole script takes minutes)::

    .venv/bin/python bench/int8_agreement.py [--rows ort-int8 ov-int8] [--analyze-rows ort-fp32 ort-int8]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
MODEL = SHARED / "models" / "person-yolov8s-real.onnx"
VIDEO = SHARED / "data" / "intel-sample-videos" / "one-by-one-person-detection.mp4"
# row key -> (backend, int8, OpenVINO inference precision)
ROWS: dict[str, tuple[str, bool, str]] = {
    "ort-fp32": ("onnx", False, "f32"),
    "ort-int8": ("onnx", True, "f32"),
    "ov-fp32": ("openvino", False, "f32"),
    "ov-int8": ("openvino", True, "f32"),
    "ov-bf16": ("openvino", False, "bf16"),
}


def detector_config(row: str, model: Path, int8: Path, threads: int) -> Any:
    from edge_agent.config.models import OnnxDetectorConfig, OpenVinoDetectorConfig

    backend, quantized, precision = ROWS[row]
    common: dict[str, Any] = {
        "model": int8 if quantized else model,
        "classes": [0, 1],
        "confidence": 0.4,
        "threads": threads,
    }
    if backend == "openvino":
        return OpenVinoDetectorConfig(type="openvino", inference_precision=precision, **common)
    return OnnxDetectorConfig(type="onnx", **common)


def analyze_row(row: str, args: argparse.Namespace) -> dict[str, Any]:
    from edge_agent.cli import demo_config
    from edge_agent.pipeline.analyze import analyze_video

    config = demo_config().model_copy(update={"detector": detector_config(row, args.model, args.out, args.threads)})
    with tempfile.TemporaryDirectory(prefix="bench-int8-") as tmp:
        result = analyze_video(args.video, config, Path(tmp), progress=False, start_time=0.0)
    r = result.report
    table = r["zones"]["table"]
    return {
        "visitors": r["visitors"],
        "entries": table["entries"],
        "dwell": [v["dwell_s"] for v in table["visits"]],
        "lines": {k: (v["in"], v["out"]) for k, v in r["lines"].items()},
        "fps": result.fps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--video", type=Path, default=VIDEO)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "person-yolov8s-real-int8.onnx")
    parser.add_argument("--frames", type=int, default=160, help="frames sampled for calibration and the check")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", nargs="+", choices=list(ROWS), default=list(ROWS))
    parser.add_argument(
        "--analyze-rows",
        nargs="*",
        choices=list(ROWS),
        default=["ort-fp32", "ort-int8", "ov-int8"],
        help="rows `analyze` runs the whole clip with (the first is the reference; none: the agreement table only)",
    )
    args = parser.parse_args()
    for path in (args.model, args.video):
        if not path.is_file():
            sys.exit(f"int8_agreement: {path} not found (../shared; see its SOURCE.md)")

    from edge_agent.detect import build_detector
    from edge_agent.detect.onnx_backend import OnnxDetector
    from edge_agent.optimize.agreement import AgreementThresholds
    from edge_agent.optimize.frames import sample
    from edge_agent.optimize.quantize import check, optimize

    reference = OnnxDetector(detector_config("ort-fp32", args.model, args.out, args.threads))
    taken = sample([str(args.video)], args.frames, 0.25, (640, 640))
    t0 = time.perf_counter()
    result = optimize(reference, taken, args.out)
    print(
        f"optimize: {len(taken.calibration)} calibration + {len(taken.held_out)} held-out frames, "
        f"{time.perf_counter() - t0:.0f} s; written {result.path}",
        file=sys.stderr,
    )
    thresholds = AgreementThresholds()
    print(f"\nAgreement with FP32 ONNX Runtime on {len(taken.held_out)} held-out Intel-clip frames (IoU >= 0.5)\n")
    print("| runtime / precision | FP32 boxes | boxes | recall | precision | mean IoU | verdict |")
    print("|---|---:|---:|---:|---:|---:|---|")
    rows = [r for r in args.rows if r != "ort-fp32"]
    for row in rows:
        try:
            detector = build_detector(detector_config(row, args.model, args.out, args.threads))
        except Exception as e:  # e.g. openvino absent, no BF16 on this CPU: say so in the table
            print(f"| {row} | - | - | - | - | - | not run: {e} |")
            continue
        a = check(reference, detector, taken.held_out, thresholds)
        short = a.shortfalls(thresholds)
        print(
            f"| {detector.precision} on {detector.runtime} | {a.reference_boxes} | {a.candidate_boxes} | "
            f"{a.recall:.3f} | {a.precision:.3f} | {a.mean_iou:.3f} | {'; '.join(short) or 'pass'} |"
        )
    if not args.analyze_rows:
        return
    print("\n`analyze` on the whole Intel clip (demo zones and line), per runtime and precision\n")
    print("| row | visitors | table entries | dwell per visit (s) | max dwell diff vs FP32 (s) | lines in/out | fps |")
    print("|---|---:|---:|---|---:|---|---:|")
    base: dict[str, Any] | None = None
    for row in args.analyze_rows:
        try:
            got = analyze_row(row, args)
        except Exception as e:
            print(f"| {row} | not run: {e} | | | | | |")
            continue
        base = base or got
        same = len(got["dwell"]) == len(base["dwell"])
        diff = max((abs(a - b) for a, b in zip(got["dwell"], base["dwell"], strict=False)), default=0.0)
        lines = ", ".join(f"{k} {i}/{o}" for k, (i, o) in got["lines"].items())
        print(
            f"| {row} | {got['visitors']} | {got['entries']} | {', '.join(f'{d:.1f}' for d in got['dwell'])} | "
            f"{diff:.2f}{'' if same else ' (visit counts differ)'} | {lines} | {got['fps']:.1f} |",
            flush=True,
        )
    print("\n" + json.dumps({"note": "fps columns are on a shared machine: compare within one run only"}))


if __name__ == "__main__":
    main()
