"""``retail-edge classify``: BEHAVIORS.md's JSONL in, one result line per input line out, same order.

Each result carries the model's calibrated probabilities and ``uncertain``: true
when the label's probability is below ``CONFIDENT_AT``, a label not to act on alone.
A line that cannot be classified (not JSON, no points, fewer than 3 points,
time not increasing, NaN) gets ``{"track_id": ..., "error": "<reason>"}`` in its
place and the others are still classified. Lines are read in chunks, so a file
of any size runs in bounded memory.

Reading and featurising (:mod:`track_reader`) and the model run in different
processes: worker processes prepare the next chunks while this one runs ONNX
Runtime on the current chunk and writes its results, so the work spreads over
the cores without contending for one interpreter lock. An input of a single
chunk is handled inline, with no worker to start.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import orjson

from edge_agent.behavior.classifier import BehaviorClassifier
from edge_agent.behavior.track_reader import PreparedChunk, prepare_chunk
from retail_common.taxonomy import CONFIDENT_AT, LABELS

CHUNK_LINES = 256


@dataclass
class ClassifyStats:
    lines: int = 0
    classified: int = 0
    errors: int = 0


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


def classify_lines(
    lines: Iterable[bytes], classifier: BehaviorClassifier, stats: ClassifyStats, workers: int = 2
) -> Iterator[bytes]:
    """Results in input order; ``workers`` processes read and featurise ahead of the model (0: all inline)."""
    chunks = _chunks(lines, CHUNK_LINES)
    head = list(itertools.islice(chunks, 2))
    if len(head) < 2 or workers < 1:
        for chunk in itertools.chain(head, chunks):
            yield from _finish(prepare_chunk(chunk), classifier, stats)
        return
    # spawn, not fork: this process already runs ONNX Runtime's threads
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        ahead: deque[Future[PreparedChunk]] = deque()
        for chunk in itertools.chain(head, chunks):
            ahead.append(pool.submit(prepare_chunk, chunk))
            if len(ahead) > 2 * workers:  # bounded: at most this many chunks in flight
                yield from _finish(ahead.popleft().result(), classifier, stats)
        while ahead:
            yield from _finish(ahead.popleft().result(), classifier, stats)


def _finish(prepared: PreparedChunk, classifier: BehaviorClassifier, stats: ClassifyStats) -> Iterator[bytes]:
    probs = classifier.predict_sequences(prepared.sequences)
    rows = iter(np.round(probs, 4).tolist())
    labels = iter(probs.argmax(axis=1).tolist())
    uncertain = iter((probs.max(axis=1) < CONFIDENT_AT).tolist())
    version = classifier.model_version
    for track_id, error in zip(prepared.track_ids, prepared.errors, strict=True):
        stats.lines += 1
        if error is not None:
            stats.errors += 1
            yield _dumps({"track_id": track_id, "error": error}) + b"\n"
            continue
        stats.classified += 1
        yield (
            _dumps(
                {
                    "track_id": track_id,
                    "behavior": LABELS[next(labels)],
                    "probabilities": dict(zip(LABELS, next(rows), strict=True)),
                    "uncertain": next(uncertain),
                    "model_version": version,
                }
            )
            + b"\n"
        )


def _dumps(line: dict[str, Any]) -> bytes:
    """One output line; a track id that is an integer beyond 64 bits is written back exactly as it came."""
    try:
        return orjson.dumps(line)
    except TypeError:  # orjson writes integers of at most 64 bits
        return json.dumps(line, separators=(",", ":"), ensure_ascii=False).encode()


def classify_stream(src: IO[bytes], dst: IO[bytes], classifier: BehaviorClassifier, workers: int = 2) -> ClassifyStats:
    stats = ClassifyStats()
    for out in classify_lines(src, classifier, stats, workers):
        dst.write(out)
    return stats
