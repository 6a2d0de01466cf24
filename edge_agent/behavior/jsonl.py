"""``retail-edge classify``: BEHAVIORS.md's JSONL in, one result line per input line out, same order.

A line that cannot be classified (not JSON, no points, fewer than 3 points,
time not increasing, NaN) gets ``{"track_id": ..., "error": "<reason>"}`` in its
place and the others are still classified. Lines are read and classified in
chunks, so a file of any size runs in bounded memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import orjson

from edge_agent.behavior.classifier import BehaviorClassifier
from edge_agent.behavior.features import TrackError, validate_points
from edge_agent.behavior.taxonomy import LABELS

CHUNK_LINES = 4096


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


def classify_lines(lines: Iterable[bytes], classifier: BehaviorClassifier, stats: ClassifyStats) -> Iterator[bytes]:
    chunk: list[bytes] = []
    for line in lines:
        if not line.strip():
            continue
        chunk.append(line)
        if len(chunk) >= CHUNK_LINES:
            yield from _classify_chunk(chunk, classifier, stats)
            chunk = []
    if chunk:
        yield from _classify_chunk(chunk, classifier, stats)


def _classify_chunk(chunk: list[bytes], classifier: BehaviorClassifier, stats: ClassifyStats) -> Iterator[bytes]:
    parsed = [parse_line(line) for line in chunk]
    good = [p.track for p in parsed if p.track is not None]
    probs = iter(classifier.predict(good)) if good else iter(())
    version = classifier.model_version
    for item in parsed:
        stats.lines += 1
        if item.track is None:
            stats.errors += 1
            yield orjson.dumps({"track_id": item.track_id, "error": item.error}) + b"\n"
            continue
        p = next(probs)
        track_id = item.track_id
        stats.classified += 1
        yield (
            orjson.dumps(
                {
                    "track_id": track_id,
                    "behavior": LABELS[int(p.argmax())],
                    "probabilities": {label: round(float(v), 4) for label, v in zip(LABELS, p, strict=True)},
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
