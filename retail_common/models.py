"""How a model is named everywhere: ``name/version``.

The same string is stored in every summary a model produced (``detector_model``,
``behavior_model``), reported in the agent's heartbeat (split into the
``ModelVersion`` message's name and version) and used by the registry. A model
from the MLflow registry has its registered name and version number; a detector
file an installer brought has its file stem and the first 12 hex digits of its
SHA-256; OpenCV's HOG has ``opencv-hog`` and OpenCV's version.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from retail_common.fields import MODEL_MAX, text_problem


class ModelNameError(ValueError):
    """A model reference that is not ``name/version`` or does not fit where it is stored."""


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: str

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or not self.version:
            raise ModelNameError(
                f"model name {self.name!r} and version {self.version!r}: both needed, no '/' in the name"
            )
        problem = text_problem("model reference", str(self), MODEL_MAX)
        if problem:
            raise ModelNameError(f"{problem}: {str(self)[:60]!r}... (shorten the model's name)")

    def __str__(self) -> str:
        return f"{self.name}/{self.version}"

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        """``"name/version"`` as a reference; :class:`ModelNameError` if it is not one."""
        name, slash, version = text.partition("/")
        if not slash:
            raise ModelNameError(f"model reference {text!r} is not 'name/version'")
        return cls(name, version)


def file_model_ref(path: Path) -> ModelRef:
    """A model file that came from no registry: its stem and the first 12 hex digits of its SHA-256.

    :class:`ModelNameError` for a stem too long to be stored, so that the program refuses the file when it
    starts rather than having every summary refused later.
    """
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return ModelRef(path.stem, digest.hexdigest()[:12])
