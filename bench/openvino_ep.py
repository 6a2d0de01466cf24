"""OpenVINO native against ONNX Runtime's OpenVINO execution provider, on the same ONNX files: pure inference.

The two cannot share one environment (``onnxruntime-openvino`` owns the ``onnxruntime`` module that the CPU
``onnxruntime`` package the agent uses owns too), so this script needs only numpy, ``openvino`` and
``onnxruntime-openvino`` and runs in a throw-away virtualenv::

    python3 -m venv /tmp/ovep && /tmp/ovep/bin/pip install numpy 'openvino>=2025,<2027' onnxruntime-openvino
    /tmp/ovep/bin/python bench/openvino_ep.py ../shared/models/yolov8n-random-640.onnx model-int8.onnx

Each model runs in each runtime in interleaved rounds (so the ratios come from the same minutes of a shared
machine); the table gives the median milliseconds per 640x640 frame and the ratio of the EP to native OpenVINO.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def native(model: Path, threads: int, precision: str) -> Callable[[np.ndarray], object]:
    import openvino as ov

    compiled = ov.Core().compile_model(
        str(model),
        "CPU",
        {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": precision},
    )
    request = compiled.create_infer_request()
    return lambda x: request.infer({0: x})


def execution_provider(model: Path, threads: int, precision: str) -> Callable[[np.ndarray], object]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(
        str(model),
        options,
        providers=[
            (
                "OpenVINOExecutionProvider",
                {
                    "device_type": "CPU",
                    "num_of_threads": str(threads),
                    "precision": "FP32" if precision == "f32" else "ACCURACY",
                },
            )
        ],
    )
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", type=Path, nargs="+", help="ONNX files with a 1x3x640x640 input")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--frames", type=int, default=30, help="inferences per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    x = np.random.default_rng(0).random((1, 3, 640, 640), dtype=np.float32)
    runners = {
        (m.name, kind): make(m, args.threads, "f32")
        for m in args.models
        for kind, make in (("openvino", native), ("onnxruntime-openvino EP", execution_provider))
    }
    times: dict[tuple[str, str], list[float]] = {k: [] for k in runners}
    for _ in range(args.rounds):
        for key, run in runners.items():
            run(x)
            start = time.perf_counter()
            for _ in range(args.frames):
                run(x)
            times[key].append(1000 * (time.perf_counter() - start) / args.frames)
    print(f"| model | runtime | ms/frame (median of {args.rounds}) | EP / native |")
    print("|---|---|---:|---:|")
    for (model, kind), values in times.items():
        ms = statistics.median(values)
        base = statistics.median(times[(model, "openvino")])
        print(f"| {model} | {kind} | {ms:.1f} | {ms / base:.2f} |")


if __name__ == "__main__":
    main()
