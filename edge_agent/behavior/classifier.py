"""Behaviour inference with ONNX Runtime only: batches of tracks to class probabilities.

The model file carries its own version, feature configuration and the
combination with the rule baseline it was measured with (:mod:`labeller`) in its
ONNX metadata; a file whose features or labels differ from this agent's is
refused at load, since its answers would be meaningless.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edge_agent.behavior import features, labeller
from retail_common.models import ModelNameError, ModelRef, file_model_ref
from retail_common.taxonomy import LABELS

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "behavior-classifier.onnx"


class BehaviorModelError(RuntimeError):
    """The behaviour model file is missing, unreadable or does not fit this agent."""


class BehaviorContractError(BehaviorModelError):
    """The model loads but was built for other features, inputs or labels than this agent computes."""


def default_model_path() -> Path:
    """The model shipped inside the package (found through package data, not the working directory)."""
    return Path(str(resources.files("edge_agent.behavior") / "models" / DEFAULT_MODEL))


class BehaviorClassifier:
    def __init__(
        self, path: Path | None = None, threads: int | None = None, batch_size: int = 256, version: str | None = None
    ) -> None:
        """``version`` (``name/version``) names a model delivered by central's registry, whose name is the
        registry's whatever the file's metadata says; by default the metadata's or the file's own."""
        self.path = path or default_model_path()
        self.batch_size = batch_size
        if not self.path.is_file():
            raise BehaviorModelError(f"behaviour model not found: {self.path}")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # ORT raises its own untyped errors for corrupt files
            raise BehaviorModelError(f"cannot load behaviour model {self.path}: {e}") from e
        meta = self.session.get_modelmeta().custom_metadata_map
        try:
            config = json.loads(meta["feature_config"])
        except (KeyError, json.JSONDecodeError) as e:
            raise BehaviorContractError(f"{self.path}: no feature configuration in the model's metadata") from e
        if config != features.feature_config():
            raise BehaviorContractError(
                f"{self.path}: trained with features {config}, this agent computes {features.feature_config()}"
            )
        try:
            self.labeller = labeller.LabellerConfig.from_metadata(meta)
        except labeller.LabellerConfigError as e:
            raise BehaviorContractError(f"{self.path}: {e}") from e
        names = [i.name for i in self.session.get_inputs()]
        if names != ["features", "mask"]:
            raise BehaviorContractError(f"{self.path}: inputs {names}, expected ['features', 'mask']")
        try:
            if version is not None:
                ref = ModelRef.parse(version)
            elif "model_version" in meta:
                ref = ModelRef.parse(meta["model_version"])
            else:
                ref = file_model_ref(self.path)
        except ModelNameError as e:
            raise BehaviorModelError(f"{self.path}: {e}") from e
        self.model_version = str(ref)  # name/version, as every summary and the heartbeat spell it
        self.predict_features(np.zeros((1, 4, features.N_FEATURES), np.float32), np.ones((1, 4), np.float32))
        how = f"rules below p {self.labeller.rules_below}" if self.labeller else "no rules"
        logger.info("behaviour model %s loaded from %s (%s)", self.model_version, self.path, how)

    def predict_features(self, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        out = self.session.run(None, {"features": x, "mask": mask})[0]
        return np.asarray(out, dtype=np.float32)

    def predict(self, tracks: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """(N, 6) probabilities of the model alone, in ``LABELS`` order, for valid (t, xy) tracks."""
        return self.predict_sequences(features.sequences(tracks))

    def label(self, tracks: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """(N, 6) probabilities of the shipped labeller (the model, with the rules where it is unsure)."""
        return labeller.label(self.predict(tracks), tracks, self.labeller)

    def predict_sequences(self, seqs: Sequence[np.ndarray]) -> np.ndarray:
        out = np.zeros((len(seqs), len(LABELS)), dtype=np.float32)
        order = np.argsort([len(s) for s in seqs], kind="stable")  # similar lengths share a batch: little padding
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            out[idx] = self.predict_features(*features.pad([seqs[i] for i in idx]))
        return out
