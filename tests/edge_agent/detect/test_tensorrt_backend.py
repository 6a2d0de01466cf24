"""The TensorRT detector without TensorRT: its install hint, and the YOLO pre/post-processing it shares.

TensorRT cannot be installed on a CPU-only machine, so the engine itself is not run here.
What a TensorRT user still depends on is tested: the error that says what to install, the
letterboxed RGB tensor handed to the engine, and the mapping of the engine's raw output
back to frame pixels (the same ``yolo_common`` code the ONNX backend uses).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from edge_agent.config.models import TensorRTDetectorConfig
from edge_agent.detect import DetectorError, build_detector
from edge_agent.detect import yolo_common as yc
from edge_agent.detect.tensorrt_backend import TensorRTDetector

PERSON, CAR = 0, 2
NUM_CLASSES = 3
GREY = 114 / 255


def raw_output(
    per_frame: list[list[tuple[float, float, float, float, int, float]]], num_anchors: int = 8
) -> np.ndarray:
    """Engine output ``(N, 4 + classes, anchors)`` holding (cx, cy, w, h, class, score) per anchor."""
    out = np.zeros((len(per_frame), 4 + NUM_CLASSES, num_anchors), dtype=np.float32)
    for b, boxes in enumerate(per_frame):
        for a, (cx, cy, w, h, cls, score) in enumerate(boxes):
            out[b, :4, a] = cx, cy, w, h
            out[b, 4 + cls, a] = score
    return out


def xyxy_to_cxcywh(x1: float, y1: float, x2: float, y2: float) -> tuple[float, float, float, float]:
    return (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1


# --- the install hint ---------------------------------------------------------------------------


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="tensorrt is installed here")
def test_missing_tensorrt_names_the_extra_to_install(tmp_path: Path) -> None:
    engine = tmp_path / "yolov8n.engine"
    engine.write_bytes(b"not really an engine")

    with pytest.raises(DetectorError, match=r"pip install 'retail-analytics\[tensorrt\]'"):
        build_detector(TensorRTDetectorConfig(type="tensorrt", engine=engine))


# --- preprocess ---------------------------------------------------------------------------------


def test_preprocess_gives_letterboxed_rgb_nchw_in_unit_range() -> None:
    blue = np.zeros((160, 320, 3), dtype=np.uint8)
    blue[:, :, 0] = 255  # BGR: pure blue

    batch = yc.preprocess([blue], 64, 64)

    tensor = batch.tensor
    assert tensor.shape == (1, 3, 64, 64)
    assert tensor.dtype == np.float32
    assert tensor.min() >= 0.0
    assert tensor.max() <= 1.0
    # 320x160 scaled by 0.2 is 64x32, centred: rows 16..47 hold the picture, the rest is grey
    picture, top, bottom = tensor[0, :, 16:48], tensor[0, :, :16], tensor[0, :, 48:]
    np.testing.assert_array_equal(picture[2], 1.0)  # RGB order: blue is the last channel
    np.testing.assert_array_equal(picture[:2], 0.0)
    np.testing.assert_allclose(top, GREY, rtol=1e-6)
    np.testing.assert_allclose(bottom, GREY, rtol=1e-6)
    assert batch.boxes == (yc.Letterbox(scale=0.2, pad_x=0.0, pad_y=16.0, frame_w=320, frame_h=160),)


@pytest.mark.parametrize(
    ("frame_w", "frame_h", "width", "height", "expected"),
    [
        (1280, 720, 640, 640, yc.Letterbox(0.5, 0.0, 140.0, 1280, 720)),
        (432, 768, 640, 640, yc.Letterbox(640 / 768, 140.0, 0.0, 432, 768)),
        (768, 432, 640, 384, yc.Letterbox(640 / 768, 0.0, 12.0, 768, 432)),
        (640, 640, 640, 640, yc.Letterbox(1.0, 0.0, 0.0, 640, 640)),
        # 385 px tall in 416: 31 grey rows, 15 on top and 16 below (the odd one at the bottom)
        (500, 301, 640, 416, yc.Letterbox(1.28, 0.0, 15.0, 500, 301)),
    ],
)
def test_letterbox_placement(frame_w: int, frame_h: int, width: int, height: int, expected: yc.Letterbox) -> None:
    image = np.full((frame_h, frame_w, 3), 200, dtype=np.uint8)

    canvas, lb = yc.letterbox(image, width, height)

    assert canvas.shape == (height, width, 3)
    assert lb.frame_w == expected.frame_w
    assert lb.frame_h == expected.frame_h
    assert lb.scale == pytest.approx(expected.scale)
    assert (lb.pad_x, lb.pad_y) == (expected.pad_x, expected.pad_y)
    # the picture starts exactly at the recorded pad: grey before it, picture from there on
    top, left = int(lb.pad_y), int(lb.pad_x)
    assert canvas[top, left].tolist() == [200, 200, 200]
    if top:
        assert canvas[top - 1, left].tolist() == [114, 114, 114]
    if left:
        assert canvas[top, left - 1].tolist() == [114, 114, 114]


def test_preprocess_letterboxes_each_frame_of_a_batch_on_its_own() -> None:
    frames = [np.zeros((720, 1280, 3), np.uint8), np.zeros((768, 432, 3), np.uint8)]

    batch = yc.preprocess(frames, 640, 640)

    assert batch.tensor.shape == (2, 3, 640, 640)
    assert [(lb.frame_w, lb.frame_h, lb.pad_x, lb.pad_y) for lb in batch.boxes] == [
        (1280, 720, 0.0, 140.0),
        (432, 768, 140.0, 0.0),
    ]


# --- postprocess ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame_w", "frame_h", "width", "height", "net_xyxy", "frame_xyxy"),
    [
        # scale 0.5, 140 px grey bars top and bottom
        (1280, 720, 640, 640, (170, 160, 330, 340), (340, 40, 660, 400)),
        # scale 5/6, 140 px grey bars left and right
        (432, 768, 640, 640, (200, 100, 300, 400), (72, 120, 192, 480)),
        # rect input: scale 5/6, 12 px bars top and bottom
        (768, 432, 640, 384, (100, 60, 200, 300), (120, 57.6, 240, 345.6)),
        # no scaling, 80 px bars
        (640, 480, 640, 640, (10, 90, 110, 290), (10, 10, 110, 210)),
        # a box reaching into the grey bar and past the input's edge is clipped to the frame
        (1280, 720, 640, 640, (560, 100, 680, 200), (1120, 0, 1280, 120)),
    ],
)
def test_postprocess_maps_network_box_to_frame(
    frame_w: int,
    frame_h: int,
    width: int,
    height: int,
    net_xyxy: tuple[float, float, float, float],
    frame_xyxy: tuple[float, float, float, float],
) -> None:
    batch = yc.preprocess([np.zeros((frame_h, frame_w, 3), np.uint8)], width, height)
    raw = raw_output([[(*xyxy_to_cxcywh(*net_xyxy), PERSON, 0.8)]])

    [detections] = yc.postprocess(raw, batch.boxes, confidence=0.25, nms_iou=0.45, classes=[PERSON])

    assert len(detections) == 1
    np.testing.assert_allclose(detections.xyxy[0], frame_xyxy, atol=0.5)
    assert detections.class_id.tolist() == [PERSON]
    assert detections.confidence.tolist() == pytest.approx([0.8])


def test_postprocess_keeps_each_frame_apart() -> None:
    batch = yc.preprocess([np.zeros((720, 1280, 3), np.uint8)] * 3, 640, 640)
    raw = raw_output(
        [
            [(250, 250, 100, 100, PERSON, 0.9)],
            [],  # nothing in the second frame
            [(250, 250, 100, 100, CAR, 0.9), (400, 300, 50, 100, PERSON, 0.6)],
        ]
    )

    first, second, third = yc.postprocess(raw, batch.boxes, confidence=0.25, nms_iou=0.45, classes=[PERSON])

    np.testing.assert_allclose(first.xyxy, [[400, 120, 600, 320]], atol=0.5)
    assert len(second) == 0
    np.testing.assert_allclose(third.xyxy, [[750, 220, 850, 420]], atol=0.5)  # the car is not a person


# --- the TensorRT detector's own batch handling (no engine needed) ---------------------------------


def engine_less_detector(max_batch: int, width: int, height: int) -> TensorRTDetector:
    """A TensorRTDetector with the attributes its constructor reads from an engine, but no engine."""
    detector = TensorRTDetector.__new__(TensorRTDetector)
    detector.config = TensorRTDetectorConfig(type="tensorrt", engine=Path("unused.engine"))
    detector.static_size = (width, height)
    detector.max_batch = max_batch
    return detector


def test_tensorrt_preprocess_fills_the_engine_batch() -> None:
    detector = engine_less_detector(max_batch=4, width=640, height=384)

    batch = detector.preprocess([np.full((432, 768, 3), 255, np.uint8)])

    assert batch.tensor.shape == (4, 3, 384, 640)
    assert batch.tensor.flags.c_contiguous  # copied to the GPU as raw bytes
    assert len(batch.boxes) == 1
    np.testing.assert_array_equal(batch.tensor[0, :, 12:372], 1.0)
    np.testing.assert_array_equal(batch.tensor[1:], 0.0)


def test_tensorrt_postprocess_returns_only_the_real_frames() -> None:
    detector = engine_less_detector(max_batch=4, width=640, height=384)
    batch = detector.preprocess([np.zeros((432, 768, 3), np.uint8)] * 2)
    raw = raw_output([[(150, 180, 100, 240, PERSON, 0.9)]] * 4)  # the padding slots "detect" too

    results = detector.postprocess(raw, batch)

    assert len(results) == 2
    for detections in results:
        np.testing.assert_allclose(detections.xyxy, [[120, 57.6, 240, 345.6]], atol=0.5)
