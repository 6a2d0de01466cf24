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
MAX_SIDE_PX = 2048  # the default of HttpConfig.max_png_side_px


def _lut() -> np.ndarray[Any, np.dtype[np.uint8]]:
    x = np.linspace(0.0, 1.0, 256)
    channels = [np.interp(x, _ANCHORS[:, 0], _ANCHORS[:, i]) for i in (1, 2, 3)]
    return np.round(np.stack(channels, axis=1)).astype(np.uint8)


LUT = _lut()
_PALETTE = LUT.ravel().tolist()


def fit_scale(rows: int, cols: int, scale: int, max_side_px: int = MAX_SIDE_PX) -> int:
    """``scale`` pixels per cell, lowered so that neither side exceeds ``max_side_px`` (at least 1)."""
    return max(1, min(scale, max_side_px // max(rows, cols, 1)))


def heatmap_png(cells: np.ndarray[Any, Any], scale: int, max_side_px: int = MAX_SIDE_PX) -> bytes:
    """A rows*scale x cols*scale PNG: zero is black, the busiest cell the brightest colour.

    The image is a palette image (one byte per pixel) scaled up by Pillow, never
    an RGB array: a 2048 x 2048 render holds about 4 MiB besides the PNG itself.
    """
    grid = np.nan_to_num(np.asarray(cells, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0).clip(min=0.0)
    peak = float(grid.max()) if grid.size else 0.0
    index = np.zeros(grid.shape, dtype=np.uint8) if peak <= 0 else np.round(grid / peak * 255).astype(np.uint8)
    image = Image.fromarray(index, mode="P")
    image.putpalette(_PALETTE)
    scale = fit_scale(grid.shape[0], grid.shape[1], scale, max_side_px)
    if scale > 1:
        image = image.resize((grid.shape[1] * scale, grid.shape[0] * scale), Image.Resampling.NEAREST)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


OVERLAY_MAX_OPACITY = 0.65  # of the heatmap's colour at the busiest cell: the picture stays readable under it


def heatmap_over(cells: np.ndarray[Any, Any], background: bytes, max_side_px: int = MAX_SIDE_PX) -> bytes:
    """The heatmap over a camera's background picture (an admin's upload, re-encoded by central), as a PNG of
    the picture's size (fitted within ``max_side_px``): the picture as it is where nobody was, tinted with the
    heatmap's colour in proportion to the person-seconds of each cell, whose grid is stretched over it."""
    grid = np.nan_to_num(np.asarray(cells, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0).clip(min=0.0)
    peak = float(grid.max()) if grid.size else 0.0
    level = grid / peak if peak > 0 else np.zeros_like(grid)
    with Image.open(io.BytesIO(background)) as picture:
        base = picture.convert("RGB")
    fit = min(1.0, max_side_px / max(base.size))
    if fit < 1.0:
        base = base.resize(
            (max(1, round(base.width * fit)), max(1, round(base.height * fit))), Image.Resampling.BILINEAR
        )
    colour = Image.fromarray(LUT[np.round(level * 255).astype(np.uint8)], mode="RGB").resize(
        base.size, Image.Resampling.NEAREST
    )
    alpha = Image.fromarray(np.round(level * OVERLAY_MAX_OPACITY * 255).astype(np.uint8), mode="L").resize(
        base.size, Image.Resampling.NEAREST
    )
    out = io.BytesIO()
    Image.composite(colour, base, alpha).save(out, format="PNG", optimize=False)
    return out.getvalue()
