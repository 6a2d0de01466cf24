"""Throughput of behaviour classification: ``retail-edge classify`` end to end and its parts.

    python bench/behaviour.py [--tracks 16000] [--seconds 60] [--hz 10] [--batch 256] [--threads 1] [--workers N]

Writes a JSONL file of synthetic tracks of ``--seconds`` each (a walk with stops,
sampled at ``--hz`` with timing jitter and 10 cm of position noise, as real
tracker output), then measures in one run, so the ratios are comparable:

- end to end: JSON reading, validation, features, model, the rules where the
  model is unsure, and JSON writing (``classify_stream`` in this process with
  ``--workers`` worker processes, their start-up included, plus the CLI's own wall
  time with its start-up);
- parse: JSON to validated arrays (as ``classify`` reads them); features: arrays to model input;
- model only: ONNX Runtime on precomputed features, batches of ``--batch``;
- rules: the rule baseline's scores on the tracks the model is unsure of (the only
  part whose cost depends on the track: the table gives their share).

``--simulated`` classifies the simulator's tracks (all six behaviours, with the
nuisances of real tracker output, 8-120 s at 2-30 Hz) instead of the fixed-size
random walks, whose unlike-any-class shapes leave the model unsure more often.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import simdjson

from edge_agent.behavior import labeller
from edge_agent.behavior.classifier import BehaviorClassifier
from edge_agent.behavior.features import sequences
from edge_agent.behavior.jsonl import classify_stream
from edge_agent.behavior.track_reader import fast_parse, parse_line


def synthetic_track(rng: np.random.Generator, seconds: float, hz: float) -> list[list[float]]:
    n = int(seconds * hz)
    t = np.cumsum(rng.uniform(0.8, 1.2, n) / hz)
    speed = np.where(rng.random(n) < 0.3, 0.0, rng.uniform(0.4, 1.4, n))
    heading = np.cumsum(rng.normal(0, 0.2, n))
    step = (speed / hz)[:, None] * np.stack([np.cos(heading), np.sin(heading)], axis=1)
    xy = np.cumsum(step, axis=0) + rng.normal(0, 0.1, (n, 2))
    points: list[list[float]] = np.round(np.column_stack([t, xy]), 3).tolist()
    return points


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, default=16000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--hz", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--simulated", action="store_true", help="the simulator's tracks instead of random walks")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "tracks.jsonl"
        with src.open("w") as f:
            if args.simulated:
                from training.simulate import simulate

                for tr in simulate(-(-args.tracks // 6), seed=0):
                    f.write(json.dumps({"track_id": tr.track_id, "points": np.round(tr.points, 3).tolist()}) + "\n")
            else:
                for i in range(args.tracks):
                    points = synthetic_track(rng, args.seconds, args.hz)
                    f.write(json.dumps({"track_id": f"t{i}", "points": points}) + "\n")
        lines = src.read_bytes().splitlines()
        classifier = BehaviorClassifier(args.model, threads=args.threads, batch_size=args.batch)

        def end_to_end() -> None:
            with src.open("rb") as f:
                classify_stream(f, io.BytesIO(), classifier, args.workers)

        reader = simdjson.Parser()

        def parse() -> list[tuple[np.ndarray, np.ndarray]]:
            read = [fast_parse(reader, line) or parse_line(line) for line in lines]
            return [r.track for r in read if r.track is not None]

        parsed = parse()
        seqs = sequences(parsed)
        n = len(parsed)
        unsure = labeller.needs_rules(classifier.predict_sequences(seqs), classifier.labeller)
        unsure_tracks = [parsed[i] for i in np.flatnonzero(unsure).tolist()]
        e2e = best_of(args.repeat, end_to_end)
        parse_s = best_of(args.repeat, parse)
        feat_s = best_of(args.repeat, lambda: sequences(parsed))
        model_s = best_of(args.repeat, lambda: classifier.predict_sequences(seqs))
        rules_s = best_of(args.repeat, lambda: labeller.rule_scores(unsure_tracks))
        out = Path(tmp) / "out.jsonl"
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "edge_agent", "classify", str(src), "-o", str(out)]
        if args.model:
            cmd += ["--model", str(args.model)]
        subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
        cli_s = time.perf_counter() - t0

    steps = float(np.mean([len(s) for s in seqs]))
    mean_points = float(np.mean([len(t) for t, _ in parsed]))
    kind = "simulated tracks" if args.simulated else f"random walks of {args.seconds:.0f} s at {args.hz:.0f} Hz"
    print(f"{n} {kind} ({mean_points:.0f} points, {steps:.0f} model steps on average)")
    below = classifier.labeller.rules_below if classifier.labeller else 0.0
    print(f"{unsure.mean():.1%} of them below p {below}: scored by the rules too")
    print(
        f"model {classifier.model_version}, batch {args.batch}, "
        f"{args.threads} ONNX Runtime thread(s), {args.workers} worker process(es), {os.cpu_count()} CPUs"
    )
    print()
    print(f"{'stage':34s} {'tracks/s':>10s} {'us/track':>9s}")
    rows = [
        ("end to end (classify_stream)", e2e),
        ("  JSON parse + validation", parse_s),
        ("  features", feat_s),
        ("  model only (ONNX Runtime)", model_s),
        ("  rules, on the unsure share", rules_s),
        ("CLI wall time incl. start-up", cli_s),
    ]
    for name, seconds in rows:
        print(f"{name:34s} {n / seconds:10.0f} {1e6 * seconds / n:9.1f}")
    print()
    print("target: end to end >= 5000 tracks/s for 60 s tracks")


if __name__ == "__main__":
    main()
