"""Edge pipeline throughput against the ONNX Runtime limit, per YOLO model configuration.

Configurations: (a) the static 640x640 model; (b) the dynamic model letterboxed to the
smallest stride-32 rectangle (rect=True, imgsz 640: 640x384 for a 16:9 clip); (c) the
dynamic model on a 640x640 square (rect=False); (d) the dynamic model at imgsz 320 (rect).
One run of this script measures, per configuration and round, interleaved so that the
ratios come from the same run and the same minutes:

* **pure inference** ("the limit"): the first frames of the clip are decoded and
  letterboxed up front with the detector's own ``preprocess``; only ``detector.infer``
  is timed over them (median of ``--infer-passes`` passes), once just before and once
  just after the pipeline run, and the two are averaged (their difference is shown as
  the machine's drift);
* **the whole pipeline**: ``edge_agent.pipeline.analyze.analyze_video`` end to end,
  decoding included (in its prefetch thread, overlapped), in a fresh subprocess per run;
  ``report["performance"]["stage_ms_per_frame"]`` gives the per-stage split and the
  process's ``VmHWM`` its peak RSS (``ru_maxrss`` is printed for reference only: a
  subprocess inherits its parent's high-water mark);
* the ratio pipeline fps / pure inference fps (target >= 0.9);
* the Ultralytics peer (``YOLO(model).track(..., tracker="bytetrack.yaml")``) when
  ``ultralytics`` is importable (it is not a project dependency), on the FP32 source model of each row;
  ``--peer-python`` runs it with another environment's interpreter (Ultralytics needs PyTorch and
  torchvision, whose builds would replace this environment's CPU PyTorch)::

      python3 -m venv /tmp/peer && /tmp/peer/bin/pip install torch==2.14.1 torchvision==0.29.1 ultralytics onnxruntime
      .venv/bin/python bench/edge_pipeline.py --peer-python /tmp/peer/bin/python

Precisions and runtimes (issue 16): ``-int8`` rows run the model quantized by ``retail-edge optimize``'s
quantizer (static QDQ, per-channel, calibrated on frames spread over the clip; written once to ``--int8-dir``;
the random weights make an agreement check meaningless, so none is run here: see ``bench/int8_agreement.py``);
``-ov`` rows run the ``openvino`` backend (FP32, INT8, and BF16 where the CPU has it) when ``openvino`` is
installed.

The machine may be shared: before each round the script waits (``--wait-quiet``) until
other processes are idle, and measures a round again (``--retries``) when they used
more than ``--max-noise`` % of a core meanwhile; the noise column shows what remained.

Run from the repository root::

    .venv/bin/python bench/edge_pipeline.py                  # all configurations, whole clip
    .venv/bin/python bench/edge_pipeline.py --repeat 3       # medians over 3 rounds
    .venv/bin/python bench/edge_pipeline.py --configs static640 rect640 --frames 300 --threads 2

Defaults read the clip and the models from ``../shared`` next to the repository.
``--frames`` limits the pipeline (a wrapper around ``VideoSource`` stops after N frames;
the decoder is unchanged) and the pure-inference set (at most ``--infer-frames``
distinct frames, to bound memory).

Over 400 lines on purpose: a benchmark is one file a user runs and reads top to bottom (its
configurations, the peer it is compared with, the subprocess it re-runs itself as, and the table).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import itertools
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DEFAULT_VIDEO = SHARED / "data" / "intel-sample-videos" / "one-by-one-person-detection.mp4"
DEFAULT_MODELS = SHARED / "models"
STATIC_MODEL = "yolov8n-random-640.onnx"
DYNAMIC_MODEL = "yolov8n-random-dynamic.onnx"
PEER_MISSING = (
    "not installed: ultralytics (its PyTorch would replace the CPU build here; --peer-python runs another venv's); "
    "issue 16's author measured 22.4 fps (static 640) and 36.7 fps (dynamic rect 640) on this machine"
)
# Ultralytics track() on the FP32 source model, as measured by issue 16's author (another run)
PEER_REPORTED_FPS = {STATIC_MODEL: 22.4, DYNAMIC_MODEL: 36.7}
DEFAULT_INT8_DIR = Path.home() / ".cache" / "retail-analytics" / "bench-int8"


@dataclass(frozen=True)
class Case:
    key: str
    label: str
    model_file: str  # the FP32 source model
    rect: bool
    imgsz: int
    backend: str = "onnx"  # or "openvino"
    int8: bool = False
    precision: str = "f32"  # OpenVINO's inference precision for float layers

    def model_path(self, args: argparse.Namespace) -> Path:
        if self.int8:
            return Path(args.int8_dir) / f"{Path(self.model_file).stem}-int8.onnx"
        return Path(args.models) / self.model_file


CASES: dict[str, Case] = {
    c.key: c
    for c in (
        Case("static640", "(a) static 640", STATIC_MODEL, True, 640),
        Case("rect640", "(b) dynamic, rect 640", DYNAMIC_MODEL, True, 640),
        Case("square640", "(c) dynamic, square 640", DYNAMIC_MODEL, False, 640),
        Case("rect320", "(d) dynamic, rect 320", DYNAMIC_MODEL, True, 320),
        Case("static640-int8", "(a) INT8, ONNX Runtime", STATIC_MODEL, True, 640, int8=True),
        Case("rect640-int8", "(b) INT8, ONNX Runtime", DYNAMIC_MODEL, True, 640, int8=True),
        Case("static640-ov", "(a) FP32, OpenVINO", STATIC_MODEL, True, 640, backend="openvino"),
        Case("static640-ov-int8", "(a) INT8, OpenVINO", STATIC_MODEL, True, 640, backend="openvino", int8=True),
        Case("static640-ov-bf16", "(a) BF16, OpenVINO", STATIC_MODEL, True, 640, backend="openvino", precision="bf16"),
        Case("rect640-ov-int8", "(b) INT8, OpenVINO", DYNAMIC_MODEL, True, 640, backend="openvino", int8=True),
    )
}


def die(message: str) -> None:
    print(f"edge_pipeline: {message}", file=sys.stderr)
    raise SystemExit(2)


def agent_config(case: Case, args: argparse.Namespace) -> Any:
    from edge_agent.config.models import AgentConfig, OnnxDetectorConfig, OpenVinoDetectorConfig

    common = {"model": case.model_path(args), "rect": case.rect, "imgsz": case.imgsz, "threads": args.threads}
    detector: OnnxDetectorConfig | OpenVinoDetectorConfig
    if case.backend == "openvino":
        detector = OpenVinoDetectorConfig(type="openvino", inference_precision=case.precision, **common)
    else:
        detector = OnnxDetectorConfig(type="onnx", **common)
    return AgentConfig(store_id="bench", detector=detector)


def peer_key(case: Case) -> str:
    """The FP32 ONNX Runtime case of the same source model and input: the one the peer runs too."""
    return case.key.split("-")[0]


def runnable(case: Case) -> str | None:
    """Why the case cannot run on this machine, or None."""
    if case.backend != "openvino":
        return None
    if importlib.util.find_spec("openvino") is None:
        return "openvino is not installed (pip install 'retail-analytics[openvino]')"
    if case.precision == "bf16":
        import openvino as ov

        if "BF16" not in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
            return "this CPU has no BF16"
    return None


def make_int8(cases: list[Case], args: argparse.Namespace) -> None:
    """Quantize each INT8 case's source model once (kept in ``--int8-dir`` for the next run)."""
    from edge_agent.config.models import OnnxDetectorConfig
    from edge_agent.detect.onnx_backend import OnnxDetector
    from edge_agent.optimize.frames import sample_source
    from edge_agent.optimize.quantize import QuantizeSettings, quantize, sha256_of, write_provenance

    for case in cases:
        target = case.model_path(args)
        if not case.int8 or target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        source = Path(args.models) / case.model_file
        reference = OnnxDetector(OnnxDetectorConfig(type="onnx", model=source, imgsz=case.imgsz, rect=case.rect))
        frames = sample_source(str(args.video), 64, reference.plan.static_size or (case.imgsz, case.imgsz))
        print(f"quantizing {source.name} -> {target}", file=sys.stderr, flush=True)
        quantize(reference, frames, target, QuantizeSettings())
        # random weights: there is nothing to check agreement on; the metadata says how it was made
        write_provenance(
            target,
            {"tool": "bench/edge_pipeline.py", "source_sha256": sha256_of(source), "calibration_frames": len(frames)},
        )


def peak_rss_mb() -> dict[str, float]:
    """This process's peak RSS: ``VmHWM`` and, for reference, ``ru_maxrss``.

    ``getrusage(RUSAGE_SELF).ru_maxrss`` of a process started by ``subprocess`` is at least the
    parent's peak RSS at the time it was spawned (Linux folds the old memory map's high-water mark
    into it at exec, and Python spawns with vfork), so it overstates a child's own peak whenever
    the parent is bigger. ``VmHWM`` in /proc/self/status belongs to the new memory map only.
    """
    # Linux reports ru_maxrss in kilobytes (macOS bytes; this benchmark targets Linux edge boxes)
    out = {"ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                out["vm_hwm_mb"] = int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    out["peak_mb"] = out.get("vm_hwm_mb", out["ru_maxrss_mb"])
    return out


def limit_video_source(limit: int | None) -> None:
    """Make ``analyze_video`` stop after ``limit`` frames, decoding them exactly as it normally does."""
    if limit is None:
        return
    n: int = limit
    import edge_agent.pipeline.analyze as analyze_mod
    from edge_agent.ingest.video_source import Frame, VideoSource

    class LimitedSource(VideoSource):
        def __init__(self, source: str, fps_hint: float | None = None) -> None:
            super().__init__(source, fps_hint)
            self.frame_count = min(self.frame_count, n) if self.frame_count else n

        def frames(self) -> Iterator[Frame]:
            for frame in super().frames():
                if frame.index >= n:
                    return
                yield frame

    analyze_mod.__dict__["VideoSource"] = LimitedSource


# ---------------------------------------------------------------- child processes


def behaviour_kwargs(config: Any) -> tuple[dict[str, Any], str]:
    """The packaged behaviour classifier for ``analyze_video``, and a line saying which it is."""
    from edge_agent.behavior.classifier import BehaviorClassifier

    clf = BehaviorClassifier(config.behavior.model, threads=config.behavior.threads)
    return {"classifier": clf}, f"model {clf.model_version}"


def run_one(case: Case, args: argparse.Namespace) -> dict[str, Any]:
    """The whole pipeline for one configuration (runs in its own process)."""
    from edge_agent.detect import build_detector
    from edge_agent.pipeline.analyze import analyze_video

    limit_video_source(args.frames)
    config = agent_config(case, args)
    with tempfile.TemporaryDirectory(prefix="bench-edge-") as tmp:
        t0 = time.perf_counter()
        detector = build_detector(config.detector)
        extra, behaviour = behaviour_kwargs(config)
        build_s = time.perf_counter() - t0
        result = analyze_video(
            args.video, config, Path(tmp), progress=False, start_time=0.0, detector=detector, **extra
        )
    video = result.report["video"]
    size = getattr(detector, "input_size", None)
    shape = size(video["width"], video["height"]) if callable(size) else None
    return {
        "case": case.key,
        "frames": result.frames,
        "elapsed_s": result.elapsed_s,
        "fps": result.fps,
        "stage_ms": result.report["performance"]["stage_ms_per_frame"],
        "build_s": build_s,
        "input_wh": list(shape) if shape else None,
        "behaviour": behaviour,
        "visitors": result.report.get("visitors"),
        "precision": f"{detector.precision} on {detector.runtime}",
        **peak_rss_mb(),
    }


def run_peer(case: Case, args: argparse.Namespace) -> dict[str, Any]:
    """Ultralytics' own ONNX predictor plus ByteTrack over the same clip (runs in its own process)."""
    ultralytics = importlib.import_module("ultralytics")
    model = ultralytics.YOLO(str(args.models / case.model_file), task="detect")
    frames = 0
    t0 = time.perf_counter()
    stream = model.track(
        source=str(args.video),
        tracker="bytetrack.yaml",
        stream=True,
        verbose=False,
        imgsz=case.imgsz,
        rect=case.rect,
    )
    for _ in stream:
        frames += 1
        if args.frames is not None and frames >= args.frames:
            break
    elapsed = time.perf_counter() - t0
    return {
        "case": case.key,
        "frames": frames,
        "fps": frames / elapsed if elapsed > 0 else 0.0,
        "version": str(getattr(ultralytics, "__version__", "?")),
        **peak_rss_mb(),
    }


def spawn(flag: str, case: Case, args: argparse.Namespace) -> dict[str, Any]:
    python = args.peer_python if flag == "--peer" and args.peer_python else sys.executable
    cmd = [str(python), str(Path(__file__).resolve()), flag, case.key]
    cmd += ["--video", str(args.video), "--models", str(args.models), "--int8-dir", str(args.int8_dir)]
    if args.frames is not None:
        cmd += ["--frames", str(args.frames)]
    if args.threads is not None:
        cmd += ["--threads", str(args.threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        die(f"{flag} {case.key} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        die(f"{flag} {case.key} printed no result:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# ---------------------------------------------------------------- pure inference


def decode_frames(video: Path, count: int) -> list[Any]:
    import cv2

    cap = cv2.VideoCapture(str(video))
    frames: list[Any] = []
    try:
        while len(frames) < count:
            ok, image = cap.read()
            if not ok or image is None:
                break
            frames.append(image)
    finally:
        cap.release()
    if not frames:
        die(f"no frame could be decoded from {video}")
    return frames


def pure_inference(case: Case, args: argparse.Namespace, frames: list[Any]) -> tuple[float, float, list[int]]:
    """(fps, median ms per call, network input w x h) of ``detector.infer`` alone on the pipeline's inputs."""
    from edge_agent.detect import build_detector

    detector = build_detector(agent_config(case, args).detector)
    batches = [detector.preprocess([f]) for f in frames]
    shape = list(batches[0].tensor.shape)
    for b in batches[: min(10, len(batches))]:  # first calls at this shape allocate; not part of the limit
        detector.infer(b)
    pass_fps: list[float] = []
    call_ms: list[float] = []
    for _ in range(args.infer_passes):
        t_pass = time.perf_counter()
        for b in batches:
            t0 = time.perf_counter()
            detector.infer(b)
            call_ms.append(1000 * (time.perf_counter() - t0))
        pass_fps.append(len(batches) / (time.perf_counter() - t_pass))
    del batches, detector
    return statistics.median(pass_fps), statistics.median(call_ms), [shape[3], shape[2]]


# ---------------------------------------------------------------- machine noise


@dataclass(frozen=True)
class CpuMark:
    wall: float
    busy: float  # CPU seconds used by everything on the machine (from /proc/stat)
    steal: float  # seconds the hypervisor gave our virtual CPUs to someone else
    own: float  # CPU seconds of this process and its finished children


def cpu_mark() -> CpuMark | None:
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    tick = os.sysconf("SC_CLK_TCK")
    t = os.times()
    own = t.user + t.system + t.children_user + t.children_system
    return CpuMark(time.monotonic(), (user + nice + system + irq + softirq) / tick, steal / tick, own)


def others_pct(a: CpuMark | None, b: CpuMark | None) -> float:
    """CPU used by other processes between two marks, in % of one core (NaN where unknown)."""
    if a is None or b is None or b.wall <= a.wall:
        return float("nan")
    return max(0.0, 100 * ((b.busy - a.busy) - (b.own - a.own)) / (b.wall - a.wall))


def wait_quiet(limit_s: float) -> float:
    """Wait (at most ``limit_s``) until other processes use under 10 % of a core; seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        a = cpu_mark()
        time.sleep(1.0)
        pct = others_pct(a, cpu_mark())
        if not pct >= 10:  # also when unknown
            break
    return time.monotonic() - started


# ---------------------------------------------------------------- report


@dataclass
class Measured:
    """One round of one configuration: pure inference just before and just after one pipeline run."""

    before: tuple[float, float, list[int]]  # fps, median ms per call, input w x h
    after: tuple[float, float, list[int]]
    pipe: dict[str, Any]
    noise: float  # other processes' CPU, % of one core, worst of the three measurements
    attempts: int

    @property
    def pure_fps(self) -> float:
        return (self.before[0] + self.after[0]) / 2

    @property
    def pure_ms(self) -> float:
        return (self.before[1] + self.after[1]) / 2

    @property
    def input_wh(self) -> list[int]:
        return self.before[2]

    @property
    def drift_pct(self) -> float:
        """How much pure inference changed across the pipeline run: the machine's own drift."""
        return 100 * abs(self.before[0] - self.after[0]) / self.pure_fps

    @property
    def ratio(self) -> float:
        return float(self.pipe["fps"]) / self.pure_fps


def machine_lines(args: argparse.Namespace) -> list[str]:
    import cv2
    import numpy as np
    import onnxruntime as ort

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        f"machine: {cpu}, os.cpu_count()={os.cpu_count()}, usable cores={affinity}, {platform.platform()}",
        f"python {platform.python_version()}, onnxruntime {ort.__version__} "
        f"(providers available: {', '.join(ort.get_available_providers())}), "
        f"opencv {cv2.__version__} (cv2.getNumThreads()={cv2.getNumThreads()}), numpy {np.__version__}",
        f"intra-op threads: {args.threads if args.threads else 'ONNX Runtime default'}; "
        f"video: {args.video.name}; frames: {args.frames if args.frames else 'all'}; "
        f"repeat: {args.repeat}",
    ]


def ordered_stages(results: list[Measured]) -> list[str]:
    stages: list[str] = []
    for m in results:
        stages += [k for k in m.pipe["stage_ms"] if k not in stages]
    return stages


def print_report(
    args: argparse.Namespace,
    cases: list[Case],
    measured: dict[str, list[Measured]],
    peer: dict[str, dict[str, Any]] | None,
    peer_error: str | None,
    noise_total: float,
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=220)
    for line in machine_lines(args):
        console.print(line, highlight=False)
    first = measured[cases[0].key][0].pipe
    console.print(f"behaviour classifier in the pipeline: {first['behaviour']}", highlight=False)

    main = Table(title="Throughput: pipeline vs pure inference, per runtime and precision (medians over rounds)")
    for col in ("configuration", "model"):
        main.add_column(col)
    for col in ("net input WxH", "pure infer fps", "pipeline fps", "ratio (>=0.9)", "peak RSS MB"):
        main.add_column(col, justify="right")
    for col in ("ours / peer (>=1.5)", "noise: other CPU % / drift %"):
        main.add_column(col, justify="right")
    for case in cases:
        ms = measured[case.key]
        pure_fps = statistics.median(m.pure_fps for m in ms)
        fps = statistics.median(float(m.pipe["fps"]) for m in ms)
        ratio = statistics.median(m.ratio for m in ms)
        source = peer_key(case)
        if peer is not None and source in peer:
            vs_peer = f"{fps / float(peer[source]['fps']):.2f}"
        elif source in ("static640", "rect640"):
            vs_peer = f"{fps / PEER_REPORTED_FPS[case.model_file]:.2f}*"
        else:
            vs_peer = "-"
        noise = f"{max(m.noise for m in ms):.0f} / {max(m.drift_pct for m in ms):.0f}"
        main.add_row(
            case.label,
            f"{case.model_file} ({ms[0].pipe['precision']})",
            "x".join(map(str, ms[0].input_wh)),
            f"{pure_fps:.1f}",
            f"{fps:.1f}",
            f"{ratio:.2f}" + (" [red](<0.9)[/]" if ratio < 0.9 else ""),
            f"{max(float(m.pipe['peak_mb']) for m in ms):.0f}",
            vs_peer,
            noise,
        )
    if peer is not None:
        for case in cases:
            if case.key in peer:
                p = peer[case.key]
                main.add_row(
                    f"Ultralytics {p['version']} track (bytetrack)",
                    case.model_file,
                    f"imgsz {case.imgsz}",
                    "",
                    f"{float(p['fps']):.1f}",
                    "",
                    f"{float(p['peak_mb']):.0f}",
                    "",
                    "",
                )
    else:
        main.add_row("Ultralytics peer", peer_error or PEER_MISSING, *[""] * 7)
    console.print(main)
    frames = first["frames"]
    rss_max = max(float(m.pipe["ru_maxrss_mb"]) for c in cases for m in measured[c.key])
    retried = sum(m.attempts - 1 for c in cases for m in measured[c.key])
    notes = [
        f"pure infer: detector.infer alone over {min(args.frames or 10**9, args.infer_frames)} decoded and "
        f"pre-letterboxed frames, median of {args.infer_passes} passes, measured just before and just after each "
        "pipeline run (mean of the two).",
        f"pipeline: analyze_video over {frames} frames (decode, preprocess, inference, postprocess, tracking, "
        "zones, storage), one fresh process per run.",
        "ratio: pipeline fps / pure infer fps of the same round, median over rounds.",
        "peak RSS: the pipeline process's VmHWM (max over rounds). Its getrusage ru_maxrss (up to "
        f"{rss_max:.0f} MB here) is not used: a subprocess inherits the parent's high-water mark at exec.",
        "noise: CPU used by processes other than this benchmark while it measured (% of one core) / change of "
        "pure inference fps between before and after the pipeline run; worst round shown. Rounds where other "
        f"processes used over {args.max_noise:g} % were measured again ({retried} retried).",
    ]
    if peer is None:
        notes.append(
            "* ours / peer against the fps issue 16's author measured with Ultralytics on the FP32 source model "
            f"({PEER_REPORTED_FPS[STATIC_MODEL]} static 640, {PEER_REPORTED_FPS[DYNAMIC_MODEL]} rect 640; another "
            "run, possibly another load on this machine)."
        )
    for note in notes:
        console.print(note, highlight=False)

    all_measured = [m for c in cases for m in measured[c.key]]
    stages = ordered_stages(all_measured)
    overlapped = {"decode", "preprocess"}  # both run in the prefetch thread
    table = Table(title="Pipeline ms per frame by stage (medians over rounds)")
    table.add_column("configuration")
    for stage in stages:
        label = {"decode": "decode*", "preprocess": "preprocess*", "trajectories_zones": "traj+zones"}.get(stage, stage)
        table.add_column(label, justify="right")
        if stage == "inference":
            table.add_column("(pure infer)", justify="right")
    table.add_column("other**", justify="right")
    table.add_column("wall/frame", justify="right")
    for case in cases:
        ms_runs = measured[case.key]
        per = {s: statistics.median(float(m.pipe["stage_ms"].get(s, 0.0)) for m in ms_runs) for s in stages}
        wall = statistics.median(1000 / float(m.pipe["fps"]) for m in ms_runs)
        other = statistics.median(
            1000 / float(m.pipe["fps"])
            - sum(float(m.pipe["stage_ms"].get(s, 0.0)) for s in stages if s not in overlapped)
            for m in ms_runs
        )
        cells = []
        for stage in stages:
            cells.append(f"{per[stage]:.3f}" if per[stage] < 0.1 else f"{per[stage]:.2f}")
            if stage == "inference":
                cells.append(f"({statistics.median(m.pure_ms for m in ms_runs):.2f})")
        table.add_row(case.label, *cells, f"{other:.2f}", f"{wall:.2f}")
    console.print(table)
    console.print(
        "*   decode and preprocess run in the prefetch thread, overlapped with the other stages: not part of "
        "wall/frame, but they compete with inference for the same 2 cores.\n"
        "**  other = wall/frame minus the main thread's stages: waiting for a decoded frame, background-plate "
        "sampling, loop overhead.\n"
        "(pure infer) = median ms of one detector.infer call alone on the same inputs.",
        highlight=False,
    )

    if "rect640" in measured and "square640" in measured:
        rect, square = measured["rect640"], measured["square640"]
        rect_pipe = statistics.median(float(m.pipe["fps"]) for m in rect)
        sq_pipe = statistics.median(float(m.pipe["fps"]) for m in square)
        rect_pure = statistics.median(m.pure_fps for m in rect)
        sq_pure = statistics.median(m.pure_fps for m in square)
        rw, rh = rect[0].input_wh
        sw, sh = square[0].input_wh
        console.print(
            f"dynamic model, rect {rw}x{rh} vs square {sw}x{sh}: pipeline {rect_pipe / sq_pipe:.2f}x faster "
            f"({rect_pipe:.1f} vs {sq_pipe:.1f} fps), pure inference {rect_pure / sq_pure:.2f}x "
            f"({rect_pure:.1f} vs {sq_pure:.1f} fps); pixels {sw * sh / (rw * rh):.2f}x fewer",
            highlight=False,
        )
    console.print(
        f"other processes used {noise_total:.0f} % of one core on average over the whole benchmark run.",
        highlight=False,
    )


# ---------------------------------------------------------------- main


def measure_round(case: Case, args: argparse.Namespace, frames: list[Any], tag: str) -> Measured:
    """Pure inference, the pipeline, pure inference again; measured again when other processes interfered."""
    for attempt in range(1, args.retries + 2):
        wait_quiet(args.wait_quiet)
        marks = [cpu_mark()]
        before = pure_inference(case, args, frames)
        marks.append(cpu_mark())
        pipe = spawn("--one", case, args)
        marks.append(cpu_mark())
        after = pure_inference(case, args, frames)
        marks.append(cpu_mark())
        known = [x for x in (others_pct(a, b) for a, b in itertools.pairwise(marks)) if not math.isnan(x)]
        noise = max(known, default=float("nan"))
        m = Measured(before, after, pipe, noise, attempt)
        print(
            f"{tag} {case.key:<10} pure {before[0]:6.1f} / {after[0]:6.1f} fps (before / after)   "
            f"pipeline {float(pipe['fps']):6.1f} fps   ratio {m.ratio:4.2f}   other procs {noise:3.0f} % CPU",
            file=sys.stderr,
            flush=True,
        )
        if not noise > args.max_noise:
            break
        if attempt <= args.retries:
            print(f"{tag} {case.key}: disturbed by other processes, measuring again", file=sys.stderr, flush=True)
    return m


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO, help="video file (default: %(default)s)")
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS, help="folder of the .onnx models")
    parser.add_argument(
        "--configs", nargs="+", choices=list(CASES), default=list(CASES), help="configurations to run (default: all)"
    )
    parser.add_argument("--frames", type=int, default=None, help="limit the pipeline to the first N frames")
    parser.add_argument("--repeat", type=int, default=1, help="rounds; medians over rounds are reported")
    parser.add_argument("--infer-frames", type=int, default=200, help="distinct frames for pure inference (memory)")
    parser.add_argument("--infer-passes", type=int, default=2, help="timed passes each time (median)")
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads (default: ORT's)")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=300.0,
        metavar="S",
        help="before each round wait up to S seconds for other processes to go idle (default: %(default)s)",
    )
    parser.add_argument(
        "--max-noise",
        type=float,
        default=15.0,
        metavar="PCT",
        help="measure a round again when other processes used more than PCT %% of a core (default: %(default)s)",
    )
    parser.add_argument("--retries", type=int, default=2, help="at most this many re-measurements per round")
    parser.add_argument("--no-peer", action="store_true", help="skip the Ultralytics peer even if installed")
    parser.add_argument(
        "--peer-python",
        type=Path,
        default=None,
        help="run the peer with this interpreter (an environment with ultralytics)",
    )
    parser.add_argument(
        "--int8-dir", type=Path, default=DEFAULT_INT8_DIR, help="where the INT8 models are made once and kept"
    )
    parser.add_argument("--one", choices=list(CASES), help=argparse.SUPPRESS)
    parser.add_argument("--peer", choices=list(CASES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.retries < 0 or args.wait_quiet < 0:
        parser.error("--retries and --wait-quiet cannot be negative")
    for name in ("frames", "repeat", "infer_frames", "infer_passes", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if not args.video.is_file():
        die(f"video not found: {args.video} (expected the shared data folder {SHARED}; pass --video)")
    cases = [CASES[k] for k in args.configs]
    for case in cases:
        if not (args.models / case.model_file).is_file():
            die(f"model not found: {args.models / case.model_file} (expected {DEFAULT_MODELS}; pass --models)")
    skipped = {c.key: why for c in cases if (why := runnable(c))}
    for key, why in skipped.items():
        print(f"skipping {key}: {why}", file=sys.stderr)
    cases = [c for c in cases if c.key not in skipped]
    if args.one:
        print(json.dumps(run_one(CASES[args.one], args)))
        return
    if args.peer:
        print(json.dumps(run_peer(CASES[args.peer], args)))
        return

    make_int8(cases, args)
    begin = cpu_mark()
    frames = decode_frames(args.video, min(args.frames or 10**9, args.infer_frames))
    measured: dict[str, list[Measured]] = {c.key: [] for c in cases}
    for r in range(args.repeat):
        for case in cases:
            measured[case.key].append(measure_round(case, args, frames, f"round {r + 1}/{args.repeat}"))
    del frames

    peer: dict[str, dict[str, Any]] | None = None
    peer_error: str | None = None
    if args.no_peer:
        peer_error = "skipped (--no-peer)"
    elif args.peer_python is not None or importlib.util.find_spec("ultralytics") is not None:
        peer = {}
        for case in cases:
            if peer_key(case) == case.key:  # the FP32 source models only
                wait_quiet(args.wait_quiet)
                peer[case.key] = spawn("--peer", case, args)
    print_report(args, cases, measured, peer, peer_error, others_pct(begin, cpu_mark()))


if __name__ == "__main__":
    main()
