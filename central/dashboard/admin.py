"""Admin controls of the dashboard: shown to admin sessions only, and checked again on the server when used.

A viewer's page never has them; were a viewer's browser to send the same change
anyway, the callback refuses it (the session's role is the server's, read from the
signed cookie when the page was made), as ``PUT .../background`` refuses a viewer's
key or cookie with 403.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import panel as pn

from central.api.deps import ApiContext
from central.api.sessions import DashboardSession
from central.backgrounds import BackgroundError, put_background

logger = logging.getLogger(__name__)


class BackgroundUpload:
    """Upload a floor plan or reference picture of a camera's view: its heatmap is drawn over it."""

    def __init__(
        self,
        ctx: ApiContext,
        session: DashboardSession,
        store_id: Callable[[], str | None],
        uploaded: Callable[[], None],
    ) -> None:
        self.ctx = ctx
        self.session = session
        self._store_id = store_id
        self._uploaded = uploaded
        self.camera = pn.widgets.Select(name="Picture of camera", options=[], width=180)
        self.file = pn.widgets.FileInput(accept=".png,.jpg,.jpeg", multiple=False, width=260)
        self.button = pn.widgets.Button(name="Upload background", button_type="primary", width=170, margin=(24, 10))
        self.message = pn.pane.Markdown("", margin=(24, 10))
        self.button.on_click(self._upload)
        self.layout = pn.Column(
            pn.pane.Markdown("**Camera background** (admin): a PNG or JPEG of the camera's view or its floor plan"),
            pn.Row(self.camera, self.file, self.button, self.message),
        )

    def cameras(self, camera_ids: list[str]) -> None:
        if list(self.camera.options) != camera_ids:
            self.camera.param.update(options=camera_ids, value=camera_ids[0] if camera_ids else None)

    def _upload(self, _event: Any) -> None:
        if not self.session.is_admin:  # never shown to a viewer; refused all the same
            self.message.object = "Only an admin key may change camera backgrounds."
            return
        store_id, camera_id, data = self._store_id(), self.camera.value, self.file.value
        if not store_id or not camera_id or not data:
            self.message.object = "Choose a camera and a picture first."
            return
        try:
            picture = put_background(
                self.ctx.engine, store_id, camera_id, data, self.session.key_id, self.ctx.settings.backgrounds
            )
        except BackgroundError as e:
            self.message.object = f"**Not uploaded:** {e}"
            return
        logger.info("store %s camera %s: background uploaded by key %s", store_id, camera_id, self.session.key_id)
        self.message.object = (
            f"Uploaded {camera_id}'s picture: {picture.width} x {picture.height} {picture.media_type}."
        )
        self._uploaded()
