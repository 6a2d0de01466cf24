"""Camera background pictures over real HTTP on SQLite and PostgreSQL: uploaded by an admin, re-encoded without
metadata, refused clearly (413/415/422) without losing the stored one, and drawn under the heatmap."""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image, PngImagePlugin
from sqlalchemy import insert

from central.api.deps import ApiSettings
from central.config import BackgroundLimits
from central.db.engine import make_engine
from central.db.schema import heatmap_daily
from tests.central.rollup_rows import Served, add_camera, add_store, served

URL = "/api/v1/stores/s1/cameras/cam1/background"
BLUE = (20, 40, 200)
DAY = 1_795_000_000 // 86_400 * 86_400


def png(size: tuple[int, int] = (64, 48), colour: tuple[int, int, int] = BLUE, comment: str = "") -> bytes:
    info = PngImagePlugin.PngInfo()
    if comment:
        info.add_text("Comment", comment)
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def jpeg_with_gps() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0)}  # GPS position
    out = io.BytesIO()
    Image.new("RGB", (40, 30), BLUE).save(out, format="JPEG", exif=exif)
    return out.getvalue()


@pytest.fixture
def api(database_url: str) -> Iterator[Served]:
    engine = make_engine(database_url)
    add_store(engine, "s1")
    add_camera(engine, "s1", "cam1")
    grid = np.zeros((3, 4), dtype="<f4")
    grid[0, 0] = 50.0  # the busiest cell, top left; the bottom right one is empty
    with engine.begin() as conn:
        conn.execute(
            insert(heatmap_daily).values(store_id="s1", camera_id="cam1", day=DAY, rows=3, cols=4, cells=grid.tobytes())
        )
    limits = BackgroundLimits(max_bytes=64 * 1024, max_pixels=200_000)
    with served(engine, ApiSettings(backgrounds=limits)) as api:
        yield api
    engine.dispose()


def put(api: Served, body: bytes, media: str = "image/png", key: str = "admin") -> tuple[int, str]:
    headers = {**(api.admin if key == "admin" else api.viewer), "Content-Type": media}
    response = api.client.put(URL, content=body, headers=headers)
    return response.status_code, response.text


def test_an_admin_uploads_a_picture_that_is_re_encoded_without_metadata(api: Served) -> None:
    assert put(api, png(comment="shot at 12 Rue X"), key="viewer")[0] == 403
    status, text = put(api, png(comment="shot at 12 Rue X"))
    assert status == 200, text
    got = api.client.get(URL, headers=api.viewer)
    assert got.status_code == 200
    assert got.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(got.content)) as image:
        assert image.size == (64, 48)
        assert "Comment" not in image.info
        assert image.getpixel((5, 5)) == BLUE

    status, text = put(api, jpeg_with_gps(), media="image/jpeg")
    assert status == 200, text
    got = api.client.get(URL, headers=api.viewer)
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["etag"].strip('"') in text  # the sha256 the upload answered
    with Image.open(io.BytesIO(got.content)) as image:
        assert image.size == (40, 30)
        assert dict(image.getexif()) == {}  # no camera make, no GPS
    assert b"SecretCam" not in got.content


BAD = [  # body, content type, status, what the refusal says
    (png(), "text/plain", 415, "is not image/png or image/jpeg"),
    (b"GIF89a" + bytes(100), "image/png", 415, "neither a PNG nor a JPEG"),
    (png()[:60], "image/png", 422, "cannot be decoded"),
    (png(size=(500, 500)), "image/png", 422, "250000 pixels has more than the 200000 accepted"),
    (b"\x89PNG\r\n\x1a\n" + bytes(70 * 1024), "image/png", 413, "larger than the 65536"),
]


def test_bad_pictures_are_refused_clearly_and_the_stored_one_is_kept(api: Served) -> None:
    assert put(api, png())[0] == 200
    before = api.client.get(URL, headers=api.viewer).content
    answers = [put(api, body, media) for body, media, _, _ in BAD]
    assert [status for status, _ in answers] == [status for _, _, status, _ in BAD]
    for (_, text), (_, _, _, says) in zip(answers, BAD, strict=True):
        assert says in text
    assert api.client.get(URL, headers=api.viewer).content == before


def test_the_heatmap_is_drawn_over_the_picture_and_removing_it_brings_the_grid_back(api: Served) -> None:
    window = {"camera_id": "cam1", "from": str(DAY), "to": str(DAY + 86_400)}
    assert (
        api.client.put(
            "/api/v1/stores/s1/cameras/nope/background",
            content=png(),
            headers={**api.admin, "Content-Type": "image/png"},
        ).status_code
        == 404
    )
    assert put(api, png())[0] == 200
    over = api.client.get("/api/v1/stores/s1/heatmap.png", params=window, headers=api.viewer)
    assert over.status_code == 200
    with Image.open(io.BytesIO(over.content)) as image:
        assert image.size == (64, 48)  # the picture's size, the 3 x 4 grid stretched over it
        rgb = image.convert("RGB")
        assert rgb.getpixel((60, 45)) == BLUE  # nobody there: the picture as it is
        assert rgb.getpixel((3, 3)) != BLUE  # the busiest cell tints it
    plain = api.client.get(
        "/api/v1/stores/s1/heatmap.png", params={**window, "background": "false"}, headers=api.viewer
    )
    with Image.open(io.BytesIO(plain.content)) as image:
        assert image.size == (4 * 16, 3 * 16)

    assert api.client.delete(URL, headers=api.viewer).status_code == 403
    assert api.client.delete(URL, headers=api.admin).status_code == 204
    assert api.client.get(URL, headers=api.viewer).status_code == 404
    assert api.client.delete(URL, headers=api.admin).status_code == 404
    grid = api.client.get("/api/v1/stores/s1/heatmap.png", params=window, headers=api.viewer)
    with Image.open(io.BytesIO(grid.content)) as image:
        assert image.size == (64, 48)  # 16 px per cell: the plain grid again
        assert image.convert("RGB").getpixel((60, 45)) != BLUE
