"""A real RTSP server for tests: GStreamer's RTSP server (Debian: gir1.2-gst-rtsp-server-1.0) serving an
H.264 MP4 file at its own pace on rtsp://127.0.0.1:PORT/cam.

Run with Debian's python3 (it has PyGObject): ``/usr/bin/python3 tests/rtsp_server.py FILE PORT``.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

Gst.init(None)
path, port = sys.argv[1], sys.argv[2]
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(
    f'( filesrc location="{path}" ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )'
)
factory.set_shared(True)
server.get_mount_points().add_factory("/cam", factory)
if server.attach(None) == 0:
    sys.exit(f"cannot listen on 127.0.0.1:{port}")
print(f"rtsp://127.0.0.1:{port}/cam", flush=True)
GLib.MainLoop().run()
