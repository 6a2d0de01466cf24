"""Dashboard logins: a signed, HttpOnly, SameSite=Strict cookie naming the API key that logged in.

The cookie holds the key's public id and role, never its secret, signed with
``dashboard.session_secret`` (itsdangerous) and dated, so it expires by itself.
Each page load and each websocket checks it again and looks the key up, so a key
revoked with ``retail-central apikeys revoke`` ends its sessions at the next load.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import HTTPConnection

from central.auth import Role

COOKIE = "retail_session"
_SALT = "retail-dashboard-login"


@dataclass(frozen=True)
class DashboardSession:
    key_id: str
    name: str
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


# key id -> the active key's name and role, or None when unknown or revoked
KeyLookup = Callable[[str], tuple[str, Role] | None]


class SessionCodec:
    """Signs and checks login cookies; ``secret`` None makes a random one (sessions end with the process)."""

    def __init__(self, secret: str | None, max_age_s: int, lookup: KeyLookup) -> None:
        self.secret_bytes = (secret or secrets.token_urlsafe(32)).encode()
        self._serializer = URLSafeTimedSerializer(self.secret_bytes, salt=_SALT)
        self.max_age_s = max_age_s
        self.lookup = lookup

    def encode(self, session: DashboardSession) -> str:
        return self._serializer.dumps({"k": session.key_id})

    def decode(self, cookie: str | None) -> DashboardSession | None:
        """The session a cookie proves, or None: missing, forged, expired, or its key revoked since."""
        if not cookie or len(cookie) > 512:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=self.max_age_s)
        except BadSignature:
            return None
        key_id = data.get("k") if isinstance(data, dict) else None
        if not isinstance(key_id, str):
            return None
        found = self.lookup(key_id)
        if found is None:
            return None
        return DashboardSession(key_id, found[0], found[1])

    def of(self, conn: HTTPConnection) -> DashboardSession | None:
        return self.decode(conn.cookies.get(COOKIE))
