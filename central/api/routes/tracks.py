"""Track summaries of a store, newest first, keyset-paged and filtered."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from central.api.deps import (
    BEHAVIOR_PATTERN,
    CURSOR_PATTERN,
    ID_MAX,
    ID_PATTERN,
    TRACK_ID_PATTERN,
    CameraId,
    Conn,
    Range,
    Store,
)
from central.api.errors import ApiError, not_found, responses
from central.api.models import TrackOut, TrackPage
from central.api.queries import tracks as track_queries
from retail_common.taxonomy import CONFIDENT_AT

router = APIRouter(prefix="/stores/{store_id}/tracks", tags=["tracks"])

MAX_PAGE = 500


@router.get("", responses=responses(400, 404), summary="Track summaries, newest first, paged")
def list_tracks(
    conn: Conn,
    store: Store,
    rng: Range,
    camera_id: CameraId,
    zone_id: Annotated[
        str | None, Query(pattern=ID_PATTERN, max_length=ID_MAX, description="only tracks that entered this zone")
    ] = None,
    behavior: Annotated[
        str | None, Query(pattern=BEHAVIOR_PATTERN, description="a behaviour label, or `unclassified`")
    ] = None,
    uncertain: Annotated[
        bool | None,
        Query(
            description=f"true: only labels whose calibrated probability is below {CONFIDENT_AT} (may be wrong); "
            "false: only the confident ones; unclassified tracks are in neither"
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"page size (at most {MAX_PAGE})")] = 100,
    cursor: Annotated[
        str | None,
        Query(pattern=CURSOR_PATTERN, max_length=200, description="`next_cursor` of the previous page"),
    ] = None,
) -> TrackPage:
    """Tracks that started within ``[from, to)``; ``zone_id`` keeps tracks whose zone order contains the zone."""
    try:
        return track_queries.tracks(
            conn, store.store_id, rng, limit, cursor or None, camera_id, zone_id, behavior, uncertain
        )
    except track_queries.BadCursorError:
        raise ApiError(400, "cursor is not one this server returned as next_cursor") from None


@router.get("/{track_id}", responses=responses(404), summary="One track summary")
def get_track(
    conn: Conn,
    store: Store,
    track_id: Annotated[str, Path(pattern=TRACK_ID_PATTERN, description="the track's UUID")],
) -> TrackOut:
    found = track_queries.track(conn, store.store_id, track_id)
    if found is None:
        raise not_found(f"track {track_id!r} of store {store.store_id!r}")
    return found
