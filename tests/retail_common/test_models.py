"""Every model is named ``name/version``; what cannot be stored that way is refused where it is made."""

from __future__ import annotations

import pytest

from retail_common.models import ModelNameError, ModelRef


@pytest.mark.parametrize(
    ("text", "expected", "error"),
    [
        ("behavior-classifier/2", ModelRef("behavior-classifier", "2"), None),
        ("yolov8n/0123456789ab", ModelRef("yolov8n", "0123456789ab"), None),
        ("opencv-hog/4.10.0", ModelRef("opencv-hog", "4.10.0"), None),
        ("yolov8n@0123456789ab", None, "is not 'name/version'"),
        ("/2", None, "both needed"),
        ("detector/", None, "both needed"),
        ("m" * 120 + "/0123456789ab", None, "at most 128"),
        ("detector\x00/1", None, "control character"),
    ],
)
def test_model_references_parse_or_say_why_not(text: str, expected: ModelRef | None, error: str | None) -> None:
    if error is None:
        assert ModelRef.parse(text) == expected
        assert str(ModelRef.parse(text)) == text
    else:
        with pytest.raises(ModelNameError, match=error):
            ModelRef.parse(text)
