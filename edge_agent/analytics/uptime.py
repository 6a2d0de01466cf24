"""How long a camera was connected, per wall-clock bucket: what central needs to tell a dead camera from an
empty store. Pure logic (no threads, no I/O): the camera worker reports each connect and disconnect, the
scheduler takes the buckets that closed."""

from __future__ import annotations

from edge_agent.analytics.buckets import bucket_start
from retail_common.summary import CameraUptime


class UptimeMeter:
    """Connected seconds of one camera per bucket, from the moment the meter started.

    Every bucket from the start on is reported once it has ended, with zero seconds where the camera was
    disconnected throughout; the bucket the meter started in holds only what it saw, so the time the agent was
    not running is never counted as up.
    """

    def __init__(self, camera_id: str, bucket_seconds: int, started: float) -> None:
        if bucket_seconds <= 0 or 3600 % bucket_seconds:
            raise ValueError(f"uptime bucket of {bucket_seconds} s does not divide an hour")
        self.camera_id = camera_id
        self.bucket_seconds = bucket_seconds
        self._up_since: float | None = None  # connected since then; None while disconnected
        self._seconds: dict[float, float] = {}  # bucket start -> connected seconds counted so far
        self._next = bucket_start(started, bucket_seconds)  # first bucket not taken yet

    @property
    def connected(self) -> bool:
        return self._up_since is not None

    def set_connected(self, connected: bool, now: float) -> None:
        """The camera (re)connected or went down at ``now``."""
        if connected and self._up_since is None:
            self._up_since = now
        elif not connected and self._up_since is not None:
            self._add(self._up_since, now)
            self._up_since = None

    def take_closed(self, now: float) -> list[CameraUptime]:
        """The buckets that ended by ``now`` and were not taken yet, oldest first."""
        return self._take(now, bucket_start(now, self.bucket_seconds))

    def take_all(self, now: float) -> list[CameraUptime]:
        """Every bucket not taken yet, the current one with what it has so far (the camera is closing; a meter
        started again within that bucket reports the rest of it, which the agent's store adds)."""
        return self._take(now, bucket_start(now, self.bucket_seconds) + self.bucket_seconds)

    def _take(self, now: float, until: float) -> list[CameraUptime]:
        if self._up_since is not None and now > self._up_since:
            self._add(self._up_since, now)
            self._up_since = now
        out = []
        while self._next < until:
            seconds = min(self._seconds.pop(self._next, 0.0), float(self.bucket_seconds))
            out.append(CameraUptime(self.camera_id, self._next, self.bucket_seconds, round(seconds, 3)))
            self._next += self.bucket_seconds
        return out

    def _add(self, start: float, end: float) -> None:
        t = max(start, self._next)
        while t < end:
            b = bucket_start(t, self.bucket_seconds)
            stop = min(end, b + self.bucket_seconds)
            self._seconds[b] = self._seconds.get(b, 0.0) + stop - t
            t = stop
