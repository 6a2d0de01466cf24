"""The manifest of active models: which file each model role runs, and the one before it, kept on disk.

A restart without a network reads it to start on the last active models. It is
written atomically (a temporary file in the same folder, fsync, rename, fsync of
the folder), so a power cut leaves either the old manifest or the new one, never
half of one. A manifest that cannot be read is reported and ignored: the agent
then starts on its configured models, never on a guess.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from pydantic import Field, ValidationError

from edge_agent.updater.policy import BEHAVIOR, DETECTOR, Installed
from retail_common.config import StrictModel

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT = 1
MAX_MANIFEST_BYTES = 64 * 1024
Sha256 = Field(pattern=r"^[0-9a-f]{64}$")


class ManifestError(ValueError):
    """The manifest file is not one this agent wrote."""


class EntryModel(StrictModel):
    name: str = Field(min_length=1, max_length=128)
    version: str = Field(min_length=1, max_length=128)
    sha256: str = Sha256
    size_bytes: int = Field(gt=0, le=1 << 40)
    file: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9._-]+$")
    rollout_id: str = Field("", max_length=128)

    def installed(self) -> Installed:
        return Installed(self.name, self.version, self.sha256, self.size_bytes, self.file, self.rollout_id)

    @classmethod
    def of(cls, m: Installed) -> EntryModel:
        return cls(
            name=m.name,
            version=m.version,
            sha256=m.sha256,
            size_bytes=m.size_bytes,
            file=m.file,
            rollout_id=m.rollout_id,
        )


class SlotModel(StrictModel):
    active: EntryModel
    previous: EntryModel | None = None


class ManifestModel(StrictModel):
    format: int = Field(FORMAT, ge=FORMAT, le=FORMAT)
    models: dict[str, SlotModel] = Field(default_factory=dict)


KINDS = (BEHAVIOR, DETECTOR)


class Manifest:
    """The active and previous model of each role, as held in ``<models_dir>/manifest.json``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / MANIFEST
        self.active: dict[str, Installed] = {}
        self.previous: dict[str, Installed] = {}

    def load(self) -> None:
        """Reads the file (nothing when there is none); :class:`ManifestError` when it is not a manifest."""
        try:
            raw = self.path.read_bytes()[: MAX_MANIFEST_BYTES + 1]
        except FileNotFoundError:
            return
        except OSError as e:
            raise ManifestError(f"cannot read {self.path}: {e.strerror or e}") from e
        if len(raw) > MAX_MANIFEST_BYTES:
            raise ManifestError(f"{self.path} is larger than {MAX_MANIFEST_BYTES} bytes: not a manifest")
        try:
            model = ManifestModel.model_validate(json.loads(raw))
        except (ValueError, ValidationError) as e:
            raise ManifestError(f"{self.path} is not a model manifest: {str(e)[:300]}") from e
        unknown = sorted(set(model.models) - set(KINDS))
        if unknown:
            raise ManifestError(f"{self.path}: unknown model role(s) {', '.join(unknown)}")
        self.active = {k: s.active.installed() for k, s in model.models.items()}
        self.previous = {k: s.previous.installed() for k, s in model.models.items() if s.previous is not None}

    def activate(self, kind: str, model: Installed) -> None:
        """``model`` becomes the active one of ``kind``; the active one before it becomes the previous."""
        current = self.active.get(kind)
        if current is not None and current != model:
            self.previous[kind] = current
        if self.previous.get(kind) == model:
            del self.previous[kind]
        self.active[kind] = model
        self.save()

    def roll_back(self, kind: str, failed: Installed) -> None:
        """``failed`` gives way to the previous model of ``kind`` (or to the configured one when none was kept)."""
        if self.active.get(kind) != failed:
            return
        previous = self.previous.pop(kind, None)
        if previous is None:
            del self.active[kind]
        else:
            self.active[kind] = previous
        self.save()

    def save(self) -> None:
        model = ManifestModel(
            models={
                k: SlotModel(
                    active=EntryModel.of(a),
                    previous=EntryModel.of(self.previous[k]) if k in self.previous else None,
                )
                for k, a in sorted(self.active.items())
            }
        )
        write_atomically(self.path, model.model_dump_json(indent=2).encode())

    def kept_files(self) -> set[str]:
        return {m.file for m in (*self.active.values(), *self.previous.values())}


def write_atomically(path: Path, data: bytes) -> None:
    """``path`` holds ``data`` or what it held before, whatever happens during the write."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except OSError:
        tmp.unlink(missing_ok=True)  # a full disk leaves the old manifest and no half-written one
        raise
    tmp.replace(path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)  # the rename itself survives a power cut
    finally:
        os.close(fd)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def intact(folder: Path, model: Installed) -> str | None:
    """Why the file of ``model`` cannot be trusted (missing, other size, other bytes), or None."""
    path = folder / model.file
    try:
        size = path.stat().st_size
    except OSError as e:
        return f"{path}: {e.strerror or e}"
    if size != model.size_bytes:
        return f"{path} holds {size} bytes, the manifest says {model.size_bytes}"
    if file_sha256(path) != model.sha256:
        return f"{path} is not the file installed (SHA-256 differs)"
    return None
