"""Central's own copies of the model files it rolls out: fetched from MLflow once, checked, served from here.

A hundred stores must not each download from MLflow, and MLflow cannot resume a
download: the file is fetched once, checked (size bound, ONNX validity, the
contract of its role), hashed, and recorded in ``model_artifacts``; agents
download it from central in resumable chunks. A replica that lacks the file (a
second machine, a wiped folder) fetches it again and serves it only if its
SHA-256 is the one recorded.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine, select

from central.db.schema import model_artifacts
from central.ingest.dialects import for_engine
from central.registry.files import ArtifactError, RegistryVersion, file_digest
from retail_common.model_contract import ModelContract

logger = logging.getLogger(__name__)


class Registry(Protocol):
    """What the cache needs of a model registry (:class:`~central.registry.mlflow_registry.MlflowRegistry`)."""

    def resolve(self, name: str, version_or_alias: str) -> RegistryVersion: ...

    def download_onnx(self, version: RegistryVersion, into: Path) -> Path: ...


def mlflow_registry(tracking_uri: str) -> Registry:
    """The MLflow registry at ``tracking_uri``, MLflow imported only now: serving cached files never needs it."""
    from central.registry.mlflow_registry import MlflowRegistry  # noqa: PLC0415 - MLflow takes seconds to import

    return MlflowRegistry(tracking_uri)


@dataclass(frozen=True)
class CachedArtifact:
    model_name: str
    version: str
    sha256: str
    size_bytes: int
    source: str
    contract: ModelContract


class ArtifactCache:
    """Files under ``folder/<model name>/<version>.onnx``, described in the database."""

    def __init__(self, engine: Engine, folder: Path, tracking_uri: str, max_bytes: int) -> None:
        self.engine = engine
        self.folder = folder
        self.tracking_uri = tracking_uri
        self._client: Registry | None = None
        self._max_bytes = max_bytes
        self._lock = threading.Lock()  # one download at a time: two callers of one version fetch it once

    def _registry(self) -> Registry:
        if self._client is None:
            self._client = mlflow_registry(self.tracking_uri)
        return self._client

    def path(self, name: str, version: str) -> Path:
        return self.folder / name / f"{version}.onnx"

    def known(self, name: str, version: str) -> CachedArtifact | None:
        a = model_artifacts.c
        with self.engine.connect() as conn:
            row = conn.execute(select(model_artifacts).where(a.model_name == name, a.version == version)).first()
        if row is None:
            return None
        return CachedArtifact(
            row.model_name, row.version, row.sha256, row.size_bytes, row.source, ModelContract.from_json(row.contract)
        )

    def fetch(self, name: str, version_or_alias: str) -> CachedArtifact:
        """The version (by number or alias) cached and recorded; :class:`ArtifactError` when it cannot be had,
        is too large, is not valid ONNX or does not fit its role. Nothing is recorded for a refused file."""
        version = self._registry().resolve(name, version_or_alias)
        known = self.known(name, version.version)
        if known is not None:
            self.ensure_file(known)
            return known
        with self._lock:
            known = self.known(name, version.version)
            if known is not None:
                return known
            return self._download(version)

    def ensure_file(self, artifact: CachedArtifact) -> Path:
        """The cached file, fetched again from the registry when this replica lacks it or holds other bytes of
        the same size; :class:`ArtifactError` when the registry's bytes are no longer the ones recorded."""
        path = self.path(artifact.model_name, artifact.version)
        if path.is_file() and path.stat().st_size == artifact.size_bytes:
            return path
        with self._lock:
            if path.is_file() and path.stat().st_size == artifact.size_bytes:
                return path
            logger.warning("model %s/%s: not in the cache here, fetched again", artifact.model_name, artifact.version)
            version = RegistryVersion(artifact.model_name, artifact.version, artifact.source)
            with tempfile.TemporaryDirectory(dir=self._staging()) as tmp:
                got = self._registry().download_onnx(version, Path(tmp))
                sha, _ = file_digest(got)
                if sha != artifact.sha256:
                    raise ArtifactError(
                        f"{artifact.model_name}/{artifact.version}: the registry's file now has SHA-256 {sha}, "
                        f"not {artifact.sha256} as when it was first cached: start a rollout of a new version"
                    )
                self._place(got, path)
        return path

    def _staging(self) -> Path:
        staging = self.folder / ".staging"
        staging.mkdir(parents=True, exist_ok=True)
        return staging

    def _place(self, got: Path, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(got, path)  # same filesystem: the staging folder is inside the cache

    def _download(self, version: RegistryVersion) -> CachedArtifact:
        with tempfile.TemporaryDirectory(dir=self._staging()) as tmp:
            got = self._registry().download_onnx(version, Path(tmp))
            size = got.stat().st_size
            if size > self._max_bytes:
                raise ArtifactError(
                    f"{version.name}/{version.version}: {size} bytes, larger than the {self._max_bytes} accepted "
                    "(rollout.max_artifact_mb)"
                )
            from central.registry.onnx_file import read_contract  # noqa: PLC0415 - onnx: only for new versions

            contract = read_contract(got, version.name)
            sha, size = file_digest(got)
            artifact = CachedArtifact(version.name, version.version, sha, size, version.source, contract)
            path = self.path(version.name, version.version)
            if path.exists():  # a leftover of an earlier attempt that was never recorded
                shutil.rmtree(path) if path.is_dir() else path.unlink()
            self._place(got, path)
        with self.engine.begin() as conn:
            conn.execute(
                for_engine(self.engine).insert(model_artifacts).on_conflict_do_nothing(),
                {
                    "model_name": artifact.model_name,
                    "version": artifact.version,
                    "sha256": artifact.sha256,
                    "size_bytes": artifact.size_bytes,
                    "source": artifact.source,
                    "contract": contract.to_json(),
                    "cached_at": time.time(),
                },
            )
        logger.info("model %s/%s cached: %d bytes, sha256 %s", version.name, version.version, size, sha)
        return self.known(version.name, version.version) or artifact
