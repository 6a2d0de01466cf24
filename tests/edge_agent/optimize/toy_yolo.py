"""A small real YOLO-shaped detector built in the tests: convolutions that find bright squares on a dark floor.

``images`` (1, 3, 640, 640) -> Conv 8x8 stride 8 (8 channels) -> ReLU -> two 1x1 convs -> per cell of the
80x80 grid: four box offsets and a score logit -> ``output0`` (1, 4 + 1, 6400), the layout of an
Ultralytics export: box centre, width and height in network pixels (0 to 640), then the class score in [0, 1]
after a sigmoid, concatenated. A cell is scored by how bright it is, so a frame's bright 8-px-aligned squares
are "people" whose boxes FP32 and INT8 must agree on. Squares are one cell each and far enough apart that their
boxes never overlap, so each is one detection and NMS has no near-ties for quantization to tip. Quantizing the
final concatenation as well breaks it the way it breaks a real YOLO: one uint8 scale over 0 to 640 rounds every
score to 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SIZE = 640
CELL = 8
GRID = SIZE // CELL
BOX = 24.0


def build(path: Path, seed: int = 7) -> Path:
    rng = np.random.default_rng(seed)
    # every output channel of the first conv measures brightness (positive weights), each a little differently
    w1 = rng.uniform(0.5, 1.5, (8, 3, CELL, CELL)).astype(np.float32) / (3 * CELL * CELL)
    b1 = np.zeros(8, np.float32)
    w_box = rng.normal(0.0, 0.05, (4, 8, 1, 1)).astype(np.float32)  # small offsets: real arithmetic
    w_score = np.full((1, 8, 1, 1), 30.0 / 8, np.float32)  # logit 30 x brightness - 15: bright ~1, dark ~0
    ys, xs = np.mgrid[0:GRID, 0:GRID]
    anchors = np.stack(
        [(xs + 0.5) * CELL, (ys + 0.5) * CELL, np.full_like(xs, BOX, float), np.full_like(ys, BOX, float)]
    ).reshape(1, 4, GRID * GRID)
    inits = [
        numpy_helper.from_array(w1, "w1"),
        numpy_helper.from_array(b1, "b1"),
        numpy_helper.from_array(w_box, "w_box"),
        numpy_helper.from_array(np.zeros(4, np.float32), "b_box"),
        numpy_helper.from_array(w_score, "w_score"),
        numpy_helper.from_array(np.array([-15.0], np.float32), "b_score"),
        numpy_helper.from_array(np.array([1, 4, GRID * GRID], np.int64), "flat4"),
        numpy_helper.from_array(np.array([1, 1, GRID * GRID], np.int64), "flat1"),
        numpy_helper.from_array(anchors.astype(np.float32), "anchors"),
        numpy_helper.from_array(np.array([CELL], np.float32), "cell"),
    ]
    nodes = [
        helper.make_node("Conv", ["images", "w1", "b1"], ["c1"], kernel_shape=[CELL, CELL], strides=[CELL, CELL]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w_box", "b_box"], ["c_box"], kernel_shape=[1, 1]),
        helper.make_node("Conv", ["r1", "w_score", "b_score"], ["c_score"], kernel_shape=[1, 1]),
        helper.make_node("Reshape", ["c_box", "flat4"], ["deltas"]),
        helper.make_node("Reshape", ["c_score", "flat1"], ["logit"]),
        helper.make_node("Mul", ["deltas", "cell"], ["offsets"]),
        helper.make_node("Add", ["anchors", "offsets"], ["boxes"]),
        helper.make_node("Sigmoid", ["logit"], ["score"]),
        helper.make_node("Concat", ["boxes", "score"], ["output0"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "toy_yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 5, GRID * GRID])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def scene(rng: np.random.Generator, squares: int = 3) -> np.ndarray:
    """A 640x640 BGR frame: dark noise with ``squares`` bright one-cell squares, 4 cells (32 px) apart or more."""
    image = rng.integers(0, 40, (SIZE, SIZE, 3), dtype=np.uint8)
    slots = (GRID // 4) ** 2
    for slot in rng.choice(slots, size=squares, replace=False):
        y, x = (int(v) * 4 * CELL + CELL for v in divmod(int(slot), GRID // 4))
        image[y : y + CELL, x : x + CELL] = rng.integers(215, 256, (CELL, CELL, 3), dtype=np.uint8)
    return image


def scenes(count: int, seed: int, squares: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [scene(rng, squares) for _ in range(count)]
