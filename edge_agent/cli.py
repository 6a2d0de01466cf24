"""``retail-edge``: the store-side agent's command line."""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from edge_agent.config import AgentConfig, ConfigError, load_agent_config, parse_agent_config
from retail_common.cli import fail, setup_logging
from retail_common.service import add_install_service_command

app = typer.Typer(help="Store-side shopper analytics agent.", no_args_is_help=True, add_completion=False)


def demo_config() -> AgentConfig:
    """The embedded defaults used by ``make demo``."""
    text = (resources.files("edge_agent.config") / "demo.yaml").read_text(encoding="utf-8")
    return parse_agent_config(text, "<embedded demo.yaml>")


def _load(config: Path | None) -> AgentConfig:
    if config is None:
        return AgentConfig(store_id="local")
    return load_agent_config(config)


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="debug logging")] = False) -> None:
    setup_logging(verbose)


@app.command()
def analyze(
    video: Annotated[Path, typer.Argument(help="recorded video file (anything OpenCV/FFmpeg decodes)")],
    config: Annotated[Path | None, typer.Option("--config", "-c", help="agent YAML (zones, lines, detector)")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for store.db, report.json, heatmap.png")] = Path(
        "analysis"
    ),
    annotate: Annotated[Path | None, typer.Option(help="also write an annotated video (.mp4) here")] = None,
    camera: Annotated[str | None, typer.Option(help="camera of the config whose zones apply (default: first)")] = None,
    demo: Annotated[bool, typer.Option(help="use the embedded demo configuration")] = False,
    start_time: Annotated[
        datetime | None,
        typer.Option(help="wall-clock time of the video's first frame (default: file time minus duration)"),
    ] = None,
) -> None:
    """Run the vision pipeline over one recorded video and write the results to a folder."""
    from edge_agent.behavior.classifier import BehaviorModelError
    from edge_agent.detect import DetectorError
    from edge_agent.ingest.video_source import SourceError
    from edge_agent.pipeline.analyze import analyze_video
    from edge_agent.store import StoreError

    try:
        cfg = demo_config() if demo else _load(config)
        result = analyze_video(
            video,
            cfg,
            out,
            camera_id=camera,
            annotate=annotate,
            start_time=start_time.timestamp() if start_time else None,
        )
    except ConfigError as e:
        raise fail(str(e), 2) from e
    except (SourceError, DetectorError, BehaviorModelError, StoreError, ValueError, OSError) as e:
        raise fail(str(e)) from e
    r = result.report
    typer.echo(f"{r['visitors']} visitor(s) in {r['video']['duration_s']} s of video ({result.fps:.1f} frames/s)")
    for zid, z in r["zones"].items():
        typer.echo(f"  zone {zid}: {z['entries']} entries, mean dwell {z['dwell_mean_s']} s")
    for lid, c in r["lines"].items():
        typer.echo(f"  line {lid}: {c['in']} in, {c['out']} out")
    behaviours = Counter(t["behavior"] for t in r["tracks"] if t.get("behavior"))
    if behaviours:
        typer.echo("  behaviour: " + ", ".join(f"{n} {label}" for label, n in behaviours.most_common()))
    typer.echo(f"results in {out.resolve()}/ (report.json, heatmap.png, store.db)")
    if annotate:
        typer.echo(f"annotated video: {annotate.resolve()}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for the results")] = Path("demo-output"),
    annotate: Annotated[bool, typer.Option(help="also write an annotated video into the folder")] = True,
) -> None:
    """Analyze Intel's public sample clip with the embedded demo configuration."""
    from edge_agent.demo import CREDIT, DemoInputError, find_demo_clip

    try:
        clip = find_demo_clip()
    except DemoInputError as e:
        raise fail(str(e)) from e
    typer.echo(f"demo input: {clip} ({CREDIT})")
    analyze(clip, out=out, annotate=out / "annotated.mp4" if annotate else None, demo=True)


@app.command()
def classify(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT.jsonl", help="tracks, one JSON object per line")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write results here (default: stdout)")] = None,
    model: Annotated[Path | None, typer.Option(help="behaviour model (.onnx); default: the packaged one")] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=0, help="processes classifying chunks of tracks, one model each (default: one per CPU)"),
    ] = None,
) -> None:
    """Classify each track's shopping behaviour (BEHAVIORS.md's JSONL in and out, same order)."""
    from edge_agent.behavior.classifier import BehaviorClassifier, BehaviorModelError
    from edge_agent.behavior.jsonl import classify_stream

    workers = (os.cpu_count() or 1) if workers is None else workers
    try:
        # checked here once; with workers, each loads its own copy with one thread (bench/behaviour.py)
        classifier = BehaviorClassifier(model, threads=1 if workers else None)
        with input_path.open("rb") as src:
            if output is None:
                stats = classify_stream(src, sys.stdout.buffer, classifier, workers)
            else:
                tmp = output.with_name(f".{output.name}.partial")
                try:
                    with tmp.open("wb") as dst:
                        stats = classify_stream(src, dst, classifier, workers)
                    tmp.replace(output)
                finally:
                    tmp.unlink(missing_ok=True)
    except BehaviorModelError as e:
        raise fail(str(e)) from e
    except OSError as e:
        raise fail(f"cannot read {input_path}: {e.strerror or e}") from e
    typer.echo(f"{stats.classified} classified, {stats.errors} error line(s) of {stats.lines}", err=True)
    if stats.classified == 0:
        raise fail(f"nothing could be classified in {input_path}")


@app.command()
def optimize(
    config: Annotated[Path, typer.Option("--config", "-c", help="agent YAML whose detector is quantized")],
    video: Annotated[
        list[Path] | None,
        typer.Option(help="sample these video files instead of the configured cameras (repeatable)"),
    ] = None,
    camera: Annotated[
        list[str] | None, typer.Option(help="sample only these cameras of the config (repeatable; default: all)")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="INT8 model to write (default: <model>-int8.onnx)")
    ] = None,
    frames: Annotated[int, typer.Option(min=8, max=5000, help="frames sampled in all, calibration and check")] = 300,
    held_out: Annotated[
        float, typer.Option(min=0.05, max=0.5, help="fraction of the frames kept back for the agreement check")
    ] = 0.25,
    every_s: Annotated[float, typer.Option(min=0.05, max=3600, help="seconds between frames of a live camera")] = 1.0,
    min_recall: Annotated[float, typer.Option(min=0, max=1, help="least recall of INT8 against FP32")] = 0.95,
    min_precision: Annotated[float, typer.Option(min=0, max=1, help="least precision of INT8 against FP32")] = 0.95,
    min_iou: Annotated[float, typer.Option(min=0, max=1, help="least mean IoU of matched boxes")] = 0.90,
) -> None:
    """Quantize the configured YOLO detector to INT8, calibrated on the store's own frames, and check it.

    Frames come from the configured cameras (or --video files), are held in memory only and never written.
    The INT8 model is written only when its detections agree with FP32's on the held-out frames.
    """
    from edge_agent.detect import DetectorError
    from edge_agent.detect.onnx_backend import OnnxDetector
    from edge_agent.ingest.video_source import SourceError
    from edge_agent.optimize.agreement import AgreementThresholds
    from edge_agent.optimize.frames import sample
    from edge_agent.optimize.quantize import AgreementRefusedError, OptimizeError, optimize, reference_config

    try:
        cfg = load_agent_config(config)
    except ConfigError as e:
        raise fail(str(e), 2) from e
    try:
        ref_config = reference_config(cfg.detector)
    except OptimizeError as e:
        raise fail(str(e), 2) from e
    if video:
        sources = [str(v) for v in video]
    else:
        known = {c.id: c.source for c in cfg.cameras}
        unknown = sorted(set(camera or ()) - set(known))
        if unknown:
            raise fail(f"no camera {', '.join(unknown)} in {config} (cameras: {', '.join(known) or 'none'})", 2)
        sources = [known[c] for c in camera] if camera else list(known.values())
    target = out or ref_config.model.with_name(f"{ref_config.model.stem}-int8.onnx")
    thresholds = AgreementThresholds(recall=min_recall, precision=min_precision, mean_iou=min_iou)
    try:
        reference = OnnxDetector(ref_config)
        size = reference.plan.static_size or (ref_config.imgsz, ref_config.imgsz)
        taken = sample(sources, frames, held_out, size, every_s)
        typer.echo(
            f"{len(taken.calibration)} calibration and {len(taken.held_out)} held-out frame(s) "
            f"from {len(sources)} source(s); quantizing {ref_config.model.name}"
        )
        result = optimize(reference, taken, target, thresholds)
    except AgreementRefusedError as e:
        a = e.agreement
        typer.echo(
            f"agreement on {a.frames} held-out frame(s), {a.reference_boxes} FP32 box(es): recall {a.recall:.3f}, "
            f"precision {a.precision:.3f}, mean IoU {a.mean_iou:.3f}"
        )
        raise fail(f"refused, nothing written: {'; '.join(e.shortfalls)}") from e
    except (OptimizeError, DetectorError, SourceError, ValueError, OSError) as e:
        raise fail(str(e)) from e
    a = result.agreement
    typer.echo(
        f"INT8 agrees with FP32 on {a.frames} held-out frame(s) ({a.reference_boxes} box(es)): recall {a.recall:.3f}, "
        f"precision {a.precision:.3f}, mean IoU {a.mean_iou:.3f}"
    )
    typer.echo(f"written: {result.path} (source SHA-256 {result.provenance['source_sha256'][:12]}...)")
    typer.echo(f"use it with  detector: {{type: {cfg.detector.type}, model: {result.path}}}")


@app.command("check-config")
def check_config(config: Annotated[Path, typer.Argument(help="agent YAML file")]) -> None:
    """Validate an agent configuration; exits non-zero naming each error's YAML path and line."""
    from edge_agent.sync.client import SyncSetupError, read_token

    try:
        cfg = load_agent_config(config)
    except ConfigError as e:
        raise fail(str(e), 2) from e
    if cfg.sync is not None:
        try:
            read_token(cfg.sync.token_file)
        except SyncSetupError as e:
            raise fail(f"invalid configuration {config}: sync.token_file: {e}", 2) from e
    typer.echo(f"{config}: valid ({len(cfg.cameras)} camera(s), detector {cfg.detector.type})")


@app.command("show-config")
def show_config(
    config: Annotated[Path | None, typer.Argument(help="agent YAML file (default: the embedded demo)")] = None,
) -> None:
    """Print a configuration with every default filled in, as JSON."""
    try:
        cfg = load_agent_config(config) if config else demo_config()
    except ConfigError as e:
        raise fail(str(e), 2) from e
    typer.echo(json.dumps(cfg.model_dump(mode="json"), indent=2))


@app.command()
def run(
    config: Annotated[Path, typer.Option("--config", "-c", help="agent YAML file")] = Path(
        "/etc/retail-edge/agent.yaml"
    ),
) -> None:
    """Run the agent service: every camera, sync to central, /healthz and /metrics, until SIGTERM."""
    from edge_agent.behavior.classifier import BehaviorModelError
    from edge_agent.detect.base import DetectorError
    from edge_agent.runtime.agent import Agent
    from edge_agent.store.sqlite_store import StoreError
    from edge_agent.sync.client import SyncSetupError

    try:
        cfg = load_agent_config(config)
    except ConfigError as e:
        raise fail(str(e), 2) from e
    try:
        Agent(cfg, config).run()
    except (SyncSetupError, DetectorError, BehaviorModelError, StoreError) as e:
        raise fail(str(e), 2) from e
    except OSError as e:  # the health port taken, the store's folder not writable
        raise fail(f"cannot start: {e}", 1) from e


@app.command()
def status(
    url: Annotated[str, typer.Option(help="the agent's health endpoint")] = "http://127.0.0.1:9108/healthz",
    as_json: Annotated[bool, typer.Option("--json", help="print the raw JSON")] = False,
) -> None:
    """Print a running agent's health for a person: cameras, sync, backlog, models."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read()
    except urllib.error.HTTPError as e:
        body = e.read()
    except (urllib.error.URLError, OSError) as e:
        raise fail(f"no agent answers at {url}: {getattr(e, 'reason', e)}") from e
    from edge_agent.status import AgentStatus, Health, WorkerState

    raw = json.loads(body)
    if as_json:
        typer.echo(json.dumps(raw, indent=2))
        return
    snap = AgentStatus.from_json(raw)
    typer.echo(f"store {snap.store_id} agent {snap.agent_id}: {snap.health.value}")
    for model in snap.models:
        fallback = (
            " (FALLBACK: packaged default, nothing else could be loaded)"
            if (model.kind == "behavior" and snap.behavior_model_fallback)
            else ""
        )
        runs = f" ({model.precision} on {model.runtime})" if model.runtime else ""
        typer.echo(f"  {model.kind} model: {model.version}{runs}{fallback}")
    for r in snap.installs:
        code = f" {r.failure_code.value}" if r.failure_code else ""
        typer.echo(
            f"  install {r.name}/{r.version} (rollout {r.rollout_id or '-'}): {r.state.value}{code}"
            + (f": {r.message}" if r.message else "")
        )
    for warning in snap.model_warnings:
        typer.echo(f"  model warning: {warning}")
    typer.echo(
        f"  {'camera':16s} {'state':12s} {'fps':>6s} {'dropped':>8s} {'skipped':>8s} {'tracks':>7s} "
        f"{'restarts':>8s}  last error"
    )
    for cam in snap.cameras:
        if cam.worker.state in (WorkerState.FAILED, WorkerState.RESTARTING):
            state = cam.worker.state.value
        else:
            state = "finished" if cam.finished else "connected" if cam.connected else "reconnecting"
        typer.echo(
            f"  {cam.camera_id:16s} {state:12s} {cam.fps:6.1f} {cam.frames_dropped:8d} {cam.frames_skipped:8d} "
            f"{cam.tracks:7d} {cam.worker.restarts:8d}  {cam.last_error or '-'}"
        )
    sync = snap.sync
    if sync is not None:
        when = datetime.fromtimestamp(sync.last_success).strftime("%Y-%m-%d %H:%M:%S") if sync.last_success else "never"
        typer.echo(f"  sync: backlog {snap.backlog}, last success {when}, refused {sync.rejected}")
        if sync.worker.state is not WorkerState.RUNNING or sync.worker.restarts:
            typer.echo(
                f"  sync worker: {sync.worker.state.value}, restarted {sync.worker.restarts} time(s)"
                + (f", last died of {sync.worker.last_error}" if sync.worker.last_error else "")
            )
        if sync.last_error:
            typer.echo(f"  sync error: {sync.last_error}")
    else:
        typer.echo("  sync: off (no `sync:` section)")
    if snap.budget_exhausted:
        typer.echo("  DISK BUDGET EXHAUSTED by data not yet synced")
    if snap.health is not Health.OK:
        raise typer.Exit(1)


add_install_service_command(
    app,
    "edge_agent.runtime",
    "retail-edge",
    Path("/etc/retail-edge/agent.yaml"),
    "retail-edge check-config",
    "the agent (Type=notify, watchdog)",
)


def main() -> None:
    app()
