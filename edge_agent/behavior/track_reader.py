"""BEHAVIORS.md's track lines to validated arrays and model input, without ONNX Runtime.

This is the CPU-heavy half of ``retail-edge classify`` (JSON, validation,
features); it imports nothing heavier than numpy so that worker processes start
fast and run it beside the model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import simdjson

from edge_agent.behavior.features import TrackError, check_points, sequences, validate_points


@dataclass(frozen=True)
class ParsedLine:
    track_id: Any  # echoed as given, whatever its JSON type
    track: tuple[np.ndarray, np.ndarray] | None = None  # (t, xy) when valid
    error: str | None = None


# every byte except the three that give a JSON array its shape
_NOT_STRUCTURAL = bytes(b for b in range(256) if b not in b"[],")


def fast_parse(parser: simdjson.Parser, line: bytes) -> ParsedLine | None:
    """The common line, ``{"track_id": <scalar>, "points": [[t, x, y], ...]}``, read straight into numpy.

    simdjson flattens the numbers into one buffer, so no Python list or float is made
    per point. Whether they really were ``n`` triples is read off the line's brackets
    and commas: with nothing but numbers inside ``points`` and scalars outside it,
    they must be exactly ``[[,,],[,,],...]`` with only commas around. Anything else
    (other shapes, strings holding brackets, NaN, huge integers) returns None and
    goes through :func:`parse_line`, which names the problem.
    """
    try:
        doc = parser.parse(line)
    except (ValueError, RuntimeError):  # not JSON, or integers beyond 64 bits: the general reader explains
        return None
    try:
        read = _scalar_id_and_points(doc, line)
    finally:
        del doc  # the parser is reused only once no proxy into its document remains
    if read is None:
        return None
    track_id, flat = read
    try:
        t, xy = check_points(flat.reshape(-1, 3))
    except TrackError as e:
        return ParsedLine(track_id, error=str(e))
    return ParsedLine(track_id, track=(t, xy))


def _scalar_id_and_points(doc: object, line: bytes) -> tuple[Any, np.ndarray] | None:
    if not isinstance(doc, simdjson.Object):
        return None
    points, track_id = doc.get("points"), doc.get("track_id")
    if not isinstance(points, simdjson.Array) or isinstance(track_id, simdjson.Object | simdjson.Array):
        return None
    if isinstance(track_id, float) and track_id.is_integer():  # maybe an integer beyond 64 bits, made a double
        return None
    n = len(points)
    if n == 0 or line.translate(None, _NOT_STRUCTURAL).strip(b",") != b"[" + b"[,,]," * (n - 1) + b"[,,]]":
        return None
    try:
        return track_id, np.frombuffer(points.as_buffer(of_type="d"), dtype=np.float64)
    except (TypeError, ValueError):  # a string, a boolean or an integer beyond 64 bits among the numbers
        return None


def parse_line(line: bytes) -> ParsedLine:
    """Any line: a valid track or the reason it is not one."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        try:  # the standard library also reads NaN, Infinity and integers beyond 64 bits (kept exact)
            obj = json.loads(line)
        except RecursionError:
            return ParsedLine(None, error="not JSON this agent reads: nested too deeply")
        except ValueError:
            return ParsedLine(None, error=f"not JSON: {e}")
    if not isinstance(obj, dict):
        return ParsedLine(None, error="expected a JSON object with track_id and points")
    if isinstance(obj.get("track_id"), float):  # orjson reads an integer beyond 64 bits as a float: keep it exact
        obj = json.loads(line)
    track_id = obj.get("track_id")
    if "points" not in obj:
        return ParsedLine(track_id, error="missing 'points'")
    try:
        t, xy = validate_points(obj["points"])
    except TrackError as e:
        return ParsedLine(track_id, error=str(e))
    return ParsedLine(track_id, track=(t, xy))


@dataclass(frozen=True)
class PreparedChunk:
    """A chunk of lines read: per line its track_id and error (None when valid), and the valid tracks' features."""

    track_ids: list[Any]
    errors: list[str | None]
    sequences: list[np.ndarray]
    tracks: list[tuple[np.ndarray, np.ndarray]]  # the valid tracks' (t, xy), for the rules


_parser: simdjson.Parser | None = None


def prepare_chunk(lines: list[bytes]) -> PreparedChunk:
    """Parse, validate and featurise lines; runs in a worker process or inline, one simdjson parser per process."""
    global _parser  # noqa: PLW0603 - one reusable parser per process, made on first use
    if _parser is None:
        _parser = simdjson.Parser()
    parsed = [fast_parse(_parser, line) or parse_line(line) for line in lines]
    tracks = [p.track for p in parsed if p.track is not None]
    return PreparedChunk([p.track_id for p in parsed], [p.error for p in parsed], sequences(tracks), tracks)
