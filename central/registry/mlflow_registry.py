"""The MLflow model registry as central reads it: versions by number or alias, and a version's ONNX file.

MLflow 3 aliases name versions (``champion``, ``challenger``); the deprecated stages are never used.
``search_model_versions`` leaves a version's aliases empty, so aliases are resolved one by one with
``get_model_version_by_alias``. MLflow is imported here only: central's other modules never need it.
"""

from __future__ import annotations

import re
from pathlib import Path

from mlflow.artifacts import download_artifacts
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from central.registry.files import ArtifactError, RegistryVersion

VERSION = re.compile(r"[0-9]{1,32}")
ALIAS = re.compile(r"@?([A-Za-z0-9_-]{1,64})")


class MlflowRegistry:
    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self._client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def resolve(self, name: str, version_or_alias: str) -> RegistryVersion:
        """A version given by number (``"3"``) or alias (``"challenger"`` or ``"@challenger"``);
        :class:`ArtifactError` when the registry has no such version."""
        try:
            if VERSION.fullmatch(version_or_alias):
                mv = self._client.get_model_version(name, version_or_alias)
            elif m := ALIAS.fullmatch(version_or_alias):
                mv = self._client.get_model_version_by_alias(name, m.group(1))
            else:
                raise ArtifactError(f"{version_or_alias[:80]!r} is neither a version number nor an alias of {name!r}")
        except MlflowException as e:
            raise ArtifactError(
                f"the registry at {self.tracking_uri} has no {name!r} version or alias {version_or_alias!r}: "
                f"{e.message[:300]}"
            ) from e
        return RegistryVersion(name, str(mv.version), str(mv.source))

    def aliases(self, name: str) -> dict[str, str]:
        """The registered model's aliases and the version each points at ({} when the model is unknown)."""
        try:
            return {str(k): str(v) for k, v in self._client.get_registered_model(name).aliases.items()}
        except MlflowException:
            return {}

    def download_onnx(self, version: RegistryVersion, into: Path) -> Path:
        """The version's one ``.onnx`` file, downloaded under ``into``; :class:`ArtifactError` when the files
        cannot be had or hold no ONNX file, or several."""
        try:
            local = Path(
                download_artifacts(
                    artifact_uri=f"models:/{version.name}/{version.version}",
                    dst_path=str(into),
                    tracking_uri=self.tracking_uri,
                )
            )
        except (MlflowException, OSError) as e:
            raise ArtifactError(f"{version.name}/{version.version}: files not downloadable: {str(e)[:300]}") from e
        found = [local] if local.is_file() else sorted(local.rglob("*.onnx"))
        if len(found) != 1:
            raise ArtifactError(
                f"{version.name}/{version.version}: expected one .onnx file in {version.source}, "
                f"found {len(found)}: {[p.name for p in found][:5]}"
            )
        return found[0]
