"""The light parts of the registry bridge (no MLflow, no onnx imported): its error, a version, a file's digest."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path


class ArtifactError(ValueError):
    """A registry version whose file cannot be had or is not a model central may roll out."""


@dataclass(frozen=True)
class RegistryVersion:
    name: str
    version: str
    source: str  # the registry's URI of the version's files


def file_digest(path: Path) -> tuple[str, int]:
    """SHA-256 (hex) and size of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size
