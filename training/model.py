"""The behaviour network: LSTM, then GRU, then dense layers, then softmax (PyTorch, training only).

The GRU's outputs are pooled over the real (unmasked) steps by both mean and
max, so padding never changes a prediction and the export needs no packed
sequences: batch size and sequence length stay dynamic in ONNX. The logits are
divided by a temperature fitted after training on held-out tracks
(:mod:`training.calibrate`), so the exported probabilities are calibrated.
"""

from __future__ import annotations

import torch
from torch import nn

from edge_agent.behavior.features import N_FEATURES
from retail_common.taxonomy import LABELS


class BehaviorNet(nn.Module):
    temperature: torch.Tensor  # a buffer: saved and exported with the weights, never trained

    def __init__(self, hidden: int = 64, dense: int = 64, n_features: int = N_FEATURES) -> None:
        super().__init__()
        self.hidden, self.dense_size, self.n_features = hidden, dense, n_features
        self.lstm = nn.LSTM(n_features, hidden, batch_first=True)
        self.gru = nn.GRU(hidden, hidden, batch_first=True)
        self.head = nn.Sequential(nn.Linear(2 * hidden, dense), nn.ReLU(), nn.Linear(dense, len(LABELS)))
        self.register_buffer("temperature", torch.ones(()))

    def logits(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        seq, _ = self.lstm(features)
        seq, _ = self.gru(seq)
        m = mask.unsqueeze(-1)
        mean = (seq * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)
        peak = (seq + (m - 1.0) * 1e4).max(dim=1).values
        out: torch.Tensor = self.head(torch.cat([mean, peak], dim=1))
        return out

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Calibrated class probabilities, (batch, 6) in the order of ``LABELS``."""
        return torch.softmax(self.logits(features, mask) / self.temperature, dim=1)
