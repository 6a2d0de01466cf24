"""``retail-edge classify``: BEHAVIORS.md's JSONL in, one result line per input line out, same order.

A line that cannot be classified (not JSON, no points, fewer than 3 points,
time not increasing, NaN) gets ``{"track_id": ..., "error": "<reason>"}`` in its
place and the others are still classified. Lines are read and classified in
chunks, so a file of any size runs in bounded memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import orjson

from edge_agent.behavior.classifier import BehaviorClassifier
from edge_agent.behavior.features import TrackError, sequences, validate_points
from edge_agent.behavior.taxonomy import LABELS

CHUNK_LINES = 1024


@dataclass
class ClassifyStats:
    lines: int = 0
    classified: int = 0
    errors: int = 0


@dataclass(frozen=True)
class ParsedLine:
    track_id: Any  # echoed as given, whatever its JSON type
    track: tuple[np.ndarray, np.ndarray] | None = None  # (t, xy) when valid
    error: str | None = None


def parse_line(line: bytes) -> ParsedLine:
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        try:  # the standard library also reads NaN and Infinity, so such a line keeps its track_id
            obj = json.loads(line)
        except ValueError:
            return ParsedLine(None, error=f"not JSON: {e}")
    if not isinstance(obj, dict):
        return ParsedLine(None, error="expected a JSON object with track_id and points")
    track_id = obj.get("track_id")
    if "points" not in obj:
        return ParsedLine(track_id, error="missing 'points'")
    try:
        t, xy = validate_points(obj["points"])
    except TrackError as e:
        return ParsedLine(track_id, error=str(e))
    return ParsedLine(track_id, track=(t, xy))


def _chunks(lines: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    chunk: list[bytes] = []
    for line in lines:
        if line.strip():
            chunk.append(line)
            if len(chunk) >= size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


@dataclass(frozen=True)
class _Prepared:
    parsed: list[ParsedLine]
    sequences: list[np.ndarray]


def _prepare(chunk: list[bytes]) -> _Prepared:
    parsed = [parse_line(line) for line in chunk]
    return _Prepared(parsed, sequences([p.track for p in parsed if p.track is not None]))


def classify_lines(lines: Iterable[bytes], classifier: BehaviorClassifier, stats: ClassifyStats) -> Iterator[bytes]:
    """Results in input order. The model runs on one chunk in a worker thread (ONNX Runtime releases
    the GIL) while this thread parses the next, so reading and inference overlap on two cores."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="behavior-model") as pool:
        pending: tuple[_Prepared, Future[np.ndarray]] | None = None
        for chunk in _chunks(lines, CHUNK_LINES):
            prepared = _prepare(chunk)
            running = pool.submit(classifier.predict_sequences, prepared.sequences)
            if pending is not None:
                yield from _format(pending[0], pending[1].result(), classifier.model_version, stats)
            pending = (prepared, running)
        if pending is not None:
            yield from _format(pending[0], pending[1].result(), classifier.model_version, stats)


def _format(prepared: _Prepared, probs: np.ndarray, version: str, stats: ClassifyStats) -> Iterator[bytes]:
    rows = iter(probs)
    for item in prepared.parsed:
        stats.lines += 1
        if item.track is None:
            stats.errors += 1
            yield orjson.dumps({"track_id": item.track_id, "error": item.error}) + b"\n"
            continue
        p = next(rows)
        stats.classified += 1
        yield (
            orjson.dumps(
                {
                    "track_id": item.track_id,
                    "behavior": LABELS[int(p.argmax())],
                    "probabilities": dict(zip(LABELS, np.round(p, 4).tolist(), strict=True)),
                    "model_version": version,
                }
            )
            + b"\n"
        )


def classify_stream(src: IO[bytes], dst: IO[bytes], classifier: BehaviorClassifier) -> ClassifyStats:
    stats = ClassifyStats()
    for out in classify_lines(src, classifier, stats):
        dst.write(out)
    return stats
