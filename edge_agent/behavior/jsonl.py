"""``retail-edge classify``: BEHAVIORS.md's JSONL in, one result line per input line out, same order.

Each result carries the labeller's calibrated probabilities (:mod:`labeller`: the
model's, with the rule baseline's evidence where the model is unsure) and
``uncertain``: true when the label's probability is below ``CONFIDENT_AT``, a
label not to act on alone. A line that cannot be classified (not JSON, no
points, fewer than 3 points, time not increasing, NaN) gets ``{"track_id": ...,
"error": "<reason>"}`` in its place and the others are still classified. Lines
are read in chunks, so a file of any size runs in bounded memory.

Chunks are independent, so worker processes each take whole chunks: reading and
featurising (:mod:`track_reader`), the model (ONNX Runtime, one thread each) and
the rules where the model is unsure, and hand back the finished output lines;
this process only reads lines and writes results in order. The work spreads over
the cores without contending for one interpreter lock. An input of a single
chunk is handled inline, with no worker to start.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson

from edge_agent.behavior import labeller
from edge_agent.behavior.classifier import BehaviorClassifier, BehaviorModelError
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
    """Results in input order; ``workers`` processes classify whole chunks ahead (0: all inline)."""
    chunks = _chunks(lines, CHUNK_LINES)
    head = list(itertools.islice(chunks, 2))
    if len(head) < 2 or workers < 1:
        for chunk in itertools.chain(head, chunks):
            yield _count(_finish(prepare_chunk(chunk), classifier), stats)
        return
    # spawn, not fork: this process already runs ONNX Runtime's threads
    context = multiprocessing.get_context("spawn")
    model = (str(classifier.path), _sha256(classifier.path), classifier.model_version, classifier.batch_size)
    try:
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=_start_worker, initargs=model
        ) as pool:
            ahead: deque[Future[Finished]] = deque()
            for chunk in itertools.chain(head, chunks):
                ahead.append(pool.submit(_classify_chunk, chunk))
                if len(ahead) > 2 * workers:  # bounded: at most this many chunks in flight
                    yield _count(ahead.popleft().result(), stats)
            while ahead:
                yield _count(ahead.popleft().result(), stats)
    except BrokenProcessPool as e:  # a worker could not load the model (its error is on stderr) or died
        raise BehaviorModelError(f"a classify worker stopped: {e} (did {classifier.path} change or go away?)") from e


@dataclass(frozen=True)
class Finished:
    """A chunk's output lines, and how many of them are results and errors."""

    output: bytes
    classified: int
    errors: int


_worker_classifier: BehaviorClassifier | None = None


def _sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as e:
        raise BehaviorModelError(f"cannot read behaviour model {path}: {e.strerror or e}") from e


def _start_worker(path: str, sha256: str, version: str, batch_size: int) -> None:
    """Load the model the main process checked: the same bytes, or the worker refuses to start."""
    global _worker_classifier  # noqa: PLW0603 - one model per worker process, loaded once
    if _sha256(Path(path)) != sha256:
        raise BehaviorModelError(f"{path} changed after classify started: not the model it checked")
    _worker_classifier = BehaviorClassifier(Path(path), threads=1, batch_size=batch_size, version=version)


def _classify_chunk(lines: list[bytes]) -> Finished:
    if _worker_classifier is None:
        raise RuntimeError("classify worker started without its model")
    return _finish(prepare_chunk(lines), _worker_classifier)


def _count(done: Finished, stats: ClassifyStats) -> bytes:
    stats.lines += done.classified + done.errors
    stats.classified += done.classified
    stats.errors += done.errors
    return done.output


def _finish(prepared: PreparedChunk, classifier: BehaviorClassifier) -> Finished:
    model_probs = classifier.predict_sequences(prepared.sequences)
    probs = labeller.label(model_probs, prepared.tracks, classifier.labeller)
    rows = iter(np.round(probs, 4).tolist())
    labels = iter(probs.argmax(axis=1).tolist())
    uncertain = iter((probs.max(axis=1) < CONFIDENT_AT).tolist())
    version = classifier.model_version
    out: list[bytes] = []
    errors = 0
    for track_id, error in zip(prepared.track_ids, prepared.errors, strict=True):
        if error is not None:
            errors += 1
            out.append(_dumps({"track_id": track_id, "error": error}))
            continue
        out.append(
            _dumps(
                {
                    "track_id": track_id,
                    "behavior": LABELS[next(labels)],
                    "probabilities": dict(zip(LABELS, next(rows), strict=True)),
                    "uncertain": next(uncertain),
                    "model_version": version,
                }
            )
        )
    out.append(b"")
    return Finished(b"\n".join(out), len(prepared.track_ids) - errors, errors)


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
