"""Camera background pictures (a floor plan or a reference photo of the view) that an admin uploads, and the
heatmap is drawn over: checked, decoded and re-encoded by central with Pillow, then kept in the database.

Only PNG and JPEG are accepted, told by their bytes rather than by what the client says they are. The size is
bounded before anything is read (``max_bytes``) and the pixel count before anything is decoded
(``max_pixels``, from the header): a small file that decodes to gigabytes is refused, not decoded. The picture
is decoded and encoded again in the same format, which drops every piece of metadata (EXIF with its GPS
position and camera serial, ICC profiles, comments) and whatever else a crafted file carried.

Pictures live in the ``camera_backgrounds`` table, not in a data folder: every central replica behind a load
balancer serves the same one, and a backup of the database holds them. A few hundred kilobytes per camera.
"""

from __future__ import annotations

import hashlib
import io
import time
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError
from sqlalchemy import Connection, Engine, delete, select

from central.config import BackgroundLimits
from central.db.schema import camera_backgrounds, cameras

FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg"}
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"))
JPEG_QUALITY = 90


class BackgroundError(ValueError):
    """A picture that cannot be used: ``status`` is the HTTP answer (413 too large, 415 not PNG or JPEG, 422 not
    decodable or too many pixels, 404 no such camera)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Background:
    store_id: str
    camera_id: str
    media_type: str
    width: int
    height: int
    image: bytes
    sha256: str
    uploaded_at: float
    uploaded_by: str


@dataclass(frozen=True)
class Reencoded:
    media_type: str
    width: int
    height: int
    image: bytes


def sniff(data: bytes) -> str | None:
    """``PNG`` or ``JPEG`` from the first bytes, or None."""
    return next((fmt for magic, fmt in _MAGIC if data.startswith(magic)), None)


def reencode(data: bytes, limits: BackgroundLimits) -> Reencoded:
    """The picture decoded and encoded again in its own format without any metadata; :class:`BackgroundError`
    when it is too large, not a PNG or JPEG, has too many pixels or cannot be decoded."""
    if len(data) > limits.max_bytes:
        raise BackgroundError(413, f"picture of {len(data)} bytes is larger than the {limits.max_bytes} accepted")
    fmt = sniff(data)
    if fmt is None:
        raise BackgroundError(415, "the picture is neither a PNG nor a JPEG (told by its first bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[fmt]) as image:
                width, height = image.size
                if width * height > limits.max_pixels:
                    raise BackgroundError(
                        422,
                        f"picture of {width}x{height} = {width * height} pixels has more than the "
                        f"{limits.max_pixels} accepted (backgrounds.max_pixels)",
                    )
                image.load()
                mode = "RGBA" if fmt == "PNG" and ("A" in image.getbands() or "transparency" in image.info) else "RGB"
                clean = image.convert(mode)
    except BackgroundError:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombWarning,
        Image.DecompressionBombError,
    ) as e:
        raise BackgroundError(422, f"the {fmt} picture cannot be decoded: {str(e)[:200] or type(e).__name__}") from e
    out = io.BytesIO()
    if fmt == "PNG":
        clean.save(out, format="PNG")
    else:
        clean.save(out, format="JPEG", quality=JPEG_QUALITY)
    return Reencoded(FORMATS[fmt], width, height, out.getvalue())


def _camera_known(conn: Connection, store_id: str, camera_id: str) -> bool:
    query = select(cameras.c.camera_id).where(cameras.c.store_id == store_id, cameras.c.camera_id == camera_id)
    return conn.execute(query).first() is not None


def put_background(
    engine: Engine, store_id: str, camera_id: str, data: bytes, uploaded_by: str, limits: BackgroundLimits
) -> Background:
    """Check, re-encode and store the camera's picture in place of the one it had (nothing changes when it is
    refused)."""
    picture = reencode(data, limits)
    stored = Background(
        store_id,
        camera_id,
        picture.media_type,
        picture.width,
        picture.height,
        picture.image,
        hashlib.sha256(picture.image).hexdigest(),
        time.time(),
        uploaded_by,
    )
    with engine.begin() as conn:
        if not _camera_known(conn, store_id, camera_id):
            raise BackgroundError(404, f"camera {camera_id!r} of store {store_id!r} not found")
        conn.execute(
            delete(camera_backgrounds).where(
                camera_backgrounds.c.store_id == store_id, camera_backgrounds.c.camera_id == camera_id
            )
        )
        conn.execute(camera_backgrounds.insert().values(**stored.__dict__))
    return stored


def get_background(conn: Connection, store_id: str, camera_id: str) -> Background | None:
    b = camera_backgrounds.c
    row = conn.execute(select(camera_backgrounds).where(b.store_id == store_id, b.camera_id == camera_id)).first()
    if row is None:
        return None
    values = dict(row._mapping)
    values["image"] = bytes(values["image"])
    return Background(**values)


def delete_background(engine: Engine, store_id: str, camera_id: str) -> bool:
    """Whether there was one to delete."""
    b = camera_backgrounds.c
    with engine.begin() as conn:
        done = conn.execute(delete(camera_backgrounds).where(b.store_id == store_id, b.camera_id == camera_id))
    return bool(done.rowcount)
