"""Shopper behaviour: the taxonomy, the model's input features and ONNX inference (no PyTorch)."""

from edge_agent.behavior.taxonomy import LABELS

__all__ = ["LABELS"]
