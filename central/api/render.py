"""Heatmap grids rendered as PNG with numpy and Pillow (no matplotlib on the server)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

# anchors of a perceptually ordered dark-to-bright map (close to matplotlib's "inferno")
_ANCHORS = np.array(
    [
        (0.00, 0, 0, 4),
        (0.15, 40, 11, 84),
        (0.30, 101, 21, 110),
        (0.45, 159, 42, 99),
        (0.60, 212, 72, 66),
        (0.75, 245, 125, 21),
        (0.90, 250, 193, 39),
        (1.00, 252, 255, 164),
    ],
    dtype=np.float64,
)
MAX_SIDE_PX = 4096


def _lut() -> np.ndarray[Any, np.dtype[np.uint8]]:
    x = np.linspace(0.0, 1.0, 256)
    channels = [np.interp(x, _ANCHORS[:, 0], _ANCHORS[:, i]) for i in (1, 2, 3)]
    return np.round(np.stack(channels, axis=1)).astype(np.uint8)


LUT = _lut()


def fit_scale(rows: int, cols: int, scale: int) -> int:
    """``scale`` pixels per cell, lowered so that neither side exceeds MAX_SIDE_PX (at least 1)."""
    return max(1, min(scale, MAX_SIDE_PX // max(rows, cols, 1)))


def heatmap_png(cells: np.ndarray[Any, Any], scale: int) -> bytes:
    """A rows*scale x cols*scale PNG: zero is black, the busiest cell the brightest colour."""
    grid = np.nan_to_num(np.asarray(cells, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0).clip(min=0.0)
    peak = float(grid.max()) if grid.size else 0.0
    index = np.zeros(grid.shape, dtype=np.uint8) if peak <= 0 else np.round(grid / peak * 255).astype(np.uint8)
    rgb = LUT[index]
    scale = fit_scale(grid.shape[0], grid.shape[1], scale)
    if scale > 1:
        rgb = np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="PNG", optimize=False)
    return out.getvalue()
