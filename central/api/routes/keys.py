"""Who am I, and (admin) the API keys: listed without their secrets."""

from __future__ import annotations

from fastapi import APIRouter

from central.api.deps import Admin, Context, Viewer
from central.api.errors import responses
from central.api.keys import list_api_keys
from central.api.models import ApiKeyOut, ApiKeysOut, WhoAmI

router = APIRouter(tags=["keys"])


@router.get("/me", summary="The API key this request used and its role")
def me(principal: Viewer) -> WhoAmI:
    return WhoAmI(key_id=principal.key_id, name=principal.name, role=principal.role.value)


@router.get("/apikeys", responses=responses(403), summary="Every API key (admin only; secrets are never shown)")
def apikeys(ctx: Context, _admin: Admin) -> ApiKeysOut:
    return ApiKeysOut(
        keys=[
            ApiKeyOut(key_id=k.key_id, name=k.name, role=k.role.value, created_at=k.created_at, revoked_at=k.revoked_at)
            for k in list_api_keys(ctx.engine)
        ]
    )
