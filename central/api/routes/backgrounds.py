"""A camera's background picture: uploaded (admin), read (viewer) and removed (admin); the heatmap PNG is drawn
over it. See :mod:`central.backgrounds` for what is accepted and why it is re-encoded."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from central.api.deps import ID_MAX, ID_PATTERN, Admin, Conn, Context, Store
from central.api.errors import ApiError, not_found, responses
from central.api.models import BackgroundOut
from central.backgrounds import FORMATS, BackgroundError, get_background, put_background
from central.backgrounds import delete_background as remove_background

router = APIRouter(prefix="/stores/{store_id}/cameras/{camera_id}", tags=["backgrounds"])

CameraPath = Annotated[str, Path(pattern=ID_PATTERN, max_length=ID_MAX, description="the camera whose view it is")]
_BINARY = {"schema": {"type": "string", "format": "binary"}}
_UPLOAD: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "a PNG or a JPEG (told by its bytes); re-encoded without metadata",
        "content": dict.fromkeys(FORMATS.values(), _BINARY),
    }
}


async def _body(request: Request, most: int) -> bytes:
    """The request's body, read no further than ``most`` bytes (413 past it)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > most:
        raise ApiError(413, f"picture of {declared} bytes is larger than the {most} accepted")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > most:
            raise ApiError(413, f"picture is larger than the {most} bytes accepted")
        chunks.append(chunk)
    return b"".join(chunks)


@router.put(
    "/background",
    responses=responses(403, 404, 413, 415),
    openapi_extra=_UPLOAD,
    summary="Upload the camera's background picture (admin only): PNG or JPEG, re-encoded by central",
)
async def upload_background(
    request: Request, ctx: Context, principal: Admin, store: Store, camera_id: CameraPath
) -> BackgroundOut:
    """The picture replaces the camera's previous one. Too large: 413; not a PNG or JPEG: 415; not decodable or
    more pixels than ``backgrounds.max_pixels``: 422. Nothing is stored then."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in FORMATS.values():
        raise ApiError(415, f"content type {media or 'none'!r} is not image/png or image/jpeg")
    data = await _body(request, ctx.settings.backgrounds.max_bytes)
    try:
        stored = await run_in_threadpool(
            put_background, ctx.engine, store.store_id, camera_id, data, principal.key_id, ctx.settings.backgrounds
        )
    except BackgroundError as e:
        raise ApiError(e.status, str(e)) from None
    return BackgroundOut(
        store_id=stored.store_id,
        camera_id=stored.camera_id,
        media_type=stored.media_type,
        width=stored.width,
        height=stored.height,
        bytes=len(stored.image),
        sha256=stored.sha256,
        uploaded_at=stored.uploaded_at,
        uploaded_by=stored.uploaded_by,
    )


@router.get(
    "/background",
    response_class=Response,
    responses={
        200: {"content": dict.fromkeys(FORMATS.values(), _BINARY), "description": "the picture"},
        **responses(404),
    },
    summary="The camera's background picture",
)
def background(conn: Conn, store: Store, camera_id: CameraPath) -> Response:
    found = get_background(conn, store.store_id, camera_id)
    if found is None:
        raise not_found(f"background picture of camera {camera_id!r} of store {store.store_id!r}")
    return Response(
        found.image, media_type=found.media_type, headers={"ETag": f'"{found.sha256}"', "Cache-Control": "no-cache"}
    )


@router.delete(
    "/background",
    status_code=204,
    response_class=Response,
    responses={204: {"description": "removed"}, **responses(403, 404)},
    summary="Remove the camera's background picture (admin only)",
)
def delete_background(ctx: Context, _admin: Admin, store: Store, camera_id: CameraPath) -> Response:
    if not remove_background(ctx.engine, store.store_id, camera_id):
        raise not_found(f"background picture of camera {camera_id!r} of store {store.store_id!r}")
    return Response(status_code=204)
