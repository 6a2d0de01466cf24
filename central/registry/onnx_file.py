"""Reading a model file's contract with ``onnx`` (no runtime): a file that does not parse or check is refused."""

from __future__ import annotations

from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from central.registry.files import ArtifactError
from retail_common.model_contract import ModelContract, contract_of, contract_problem


def read_contract(path: Path, model_name: str) -> ModelContract:
    """The file's inputs, outputs and metadata; :class:`ArtifactError` naming the file when it is not a valid
    ONNX model, or not one that fits ``model_name``'s role on the agent."""
    try:
        model = onnx.load(str(path), load_external_data=False)
        onnx.checker.check_model(model)
    except (DecodeError, onnx.checker.ValidationError, OSError, ValueError) as e:
        raise ArtifactError(f"{path.name}: not a valid ONNX model ({type(e).__name__}: {str(e)[:300]})") from e
    contract = contract_of(model)
    problem = contract_problem(model_name, contract)
    if problem:
        raise ArtifactError(f"{path.name} registered as {model_name!r}: {problem}")
    return contract
