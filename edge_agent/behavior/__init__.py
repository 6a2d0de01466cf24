"""Shopper behaviour: the taxonomy, the model's input features and ONNX inference (no PyTorch)."""

from retail_common.taxonomy import LABELS

__all__ = ["LABELS"]
