"""Shopper behaviour: the taxonomy, the model's input features, ONNX inference, the rule baseline and the
labeller that combines the two (no PyTorch)."""

from retail_common.taxonomy import LABELS

__all__ = ["LABELS"]
