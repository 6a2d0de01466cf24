"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against a real ``retail-central serve``
filled by the fleet simulator over gRPC.

Pages are waited for the way Panel's own UI tests do: the console message
"Websocket connection 0 is now open", then network idle. Screenshots of every
page go to ``test-output/dashboard/`` (or ``$RETAIL_TEST_OUTPUT/dashboard``).
The server runs with a 2-second request deadline, shorter than the tests: a
websocket closed by it (as one was) fails them.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml
from PIL import Image
from retail_proto.v1 import edge_sync_pb2 as pb

from tests.central.test_serve import central_process, cli
from tests.grpc_fixtures import auth, push, stamp, stub, summary

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OUTPUT = Path(os.environ.get("RETAIL_TEST_OUTPUT", Path(__file__).resolve().parents[2] / "test-output")) / "dashboard"
WS_OPEN = "Websocket connection 0 is now open"
LIVE_STORE = "live-1"
# how many heatmaps on the page are drawn over an uploaded camera picture
BACKGROUNDS_JS = """() => Bokeh.documents.flatMap(d => [...d._all_models.values()])
    .filter(m => m.name === "camera-background").length"""
TIMEZONE = "Asia/Kolkata"  # the live store's: +05:30, an offset that is not a whole hour
# the x of every grey "missing data" band on the page, read from Bokeh's document model
GAP_BANDS_JS = """() => Bokeh.documents.flatMap(d => [...d._all_models.values()])
    .filter(m => m.name === "missing-data").flatMap(r => Array.from(r.data_source.data.x))"""

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")


def _browser_or_skip() -> None:
    if CHROMIUM.exists():
        return
    message = "no Chromium at /usr/bin/chromium (apt-get install chromium; .ci/run installs it)"
    if os.environ.get("RETAIL_REQUIRE_BROWSER"):
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class Central:
    base: str
    grpc_port: int
    database_url: str
    viewer_key: str
    admin_key: str
    live_token: str
    console: list[str] = field(default_factory=list)

    def api(self, path: str, key: str | None = None, **params: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key or self.viewer_key}"}
        return httpx.get(f"{self.base}/api/v1{path}", params=params, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def central(tmp_path_factory: pytest.TempPathFactory, mlflow_store: tuple[str, list[str]]) -> Iterator[Central]:
    _browser_or_skip()
    folder = tmp_path_factory.mktemp("dashboard")
    database_url = f"sqlite:///{folder / 'central.db'}"
    config = folder / "central.yaml"
    rollout = {"tracking_uri": mlflow_store[0], "artifact_cache": str(folder / "cache")}
    settings = {"http": {"request_timeout_s": 2}, "dashboard": {"refresh_s": 1}, "rollout": rollout}
    config.write_text(yaml.safe_dump(settings))
    viewer = cli("apikeys", "create", "store-manager", "--role", "viewer", "--database", database_url)
    admin = cli("apikeys", "create", "analyst", "--role", "admin", "--database", database_url)
    live_token = cli("stores", "create", LIVE_STORE, "--name", "Live Street", "--database", database_url)
    cli("stores", "set-timezone", LIVE_STORE, TIMEZONE, "--database", database_url)
    with central_process(database_url, "--config", str(config), keep_log=False) as (grpc_port, base, _proc):
        sim = subprocess.run(
            [
                sys.executable,
                "-m",
                "fleet_sim",
                "--stores",
                "3",
                "--days",
                "2",
                "--target",
                f"127.0.0.1:{grpc_port}",
                "--database",
                database_url,
                "--agents",
                "3",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert sim.returncode == 0, sim.stderr
        yield Central(base, grpc_port, database_url, viewer, admin, live_token)


@pytest.fixture(scope="module")
def browser(central: Central) -> Iterator[object]:
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield chromium
        chromium.close()


def png(width: int, height: int) -> bytes:
    """A floor plan: grey aisles on white."""
    image = Image.new("RGB", (width, height), "white")
    for x in range(width // 8, width, width // 4):
        image.paste((200, 200, 200), (x, height // 10, x + width // 10, height - height // 10))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def open_dashboard(browser: object, central: Central, key: str, path: str = "/dashboard") -> object:
    """A new browser page logged in with ``key`` and showing ``path``, its console errors collected."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    page.on("console", lambda m: central.console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: central.console.append(f"pageerror: {e}"))
    page.goto(central.base + path)
    assert "/login" in page.url, "without a cookie the dashboard must show the login page"
    page.fill("#api_key", key)
    with page.expect_console_message(lambda m: WS_OPEN in m.text, timeout=60_000):
        page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return page


def shot(page: object, name: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def wait_text(page: object, pattern: str, timeout_s: float = 30) -> str:
    """The first text on the page matching ``pattern`` (inside Bokeh's shadow roots too), waited for."""
    locator = page.locator(f"text=/{pattern}/").first  # type: ignore[attr-defined]
    locator.wait_for(timeout=timeout_s * 1000)
    return str(locator.inner_text())


def visitors_shown(page: object) -> int:
    text = wait_text(page, r"[\d,]+ visitors in this store")
    return int(re.search(r"([\d,]+) visitors", text).group(1).replace(",", ""))  # type: ignore[union-attr]


def settle_visitors(page: object, expected: int, timeout_s: float = 30) -> int:
    """The store's visitors the page shows once they equal ``expected``, or the last shown after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    shown = visitors_shown(page)
    while shown != expected and time.monotonic() < deadline:
        page.wait_for_timeout(300)  # type: ignore[attr-defined]
        shown = visitors_shown(page)
    return shown


def local_days(central: Central, store_id: str, days: int) -> dict[str, str]:
    """``from``/``to`` of the last ``days`` local days of the store (today included), as the dashboard picks them."""
    tz = ZoneInfo(central.api(f"/stores/{store_id}").json()["timezone"])
    today = datetime.now(timezone.utc).astimezone(tz).date()
    start = datetime.combine(today - timedelta(days=days - 1), datetime.min.time(), tzinfo=tz)
    end = datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    return {"from": start.isoformat(), "to": end.isoformat()}


def api_visits(central: Central, store_id: str, days: int) -> int:
    reply = central.api(f"/stores/{store_id}/traffic", **local_days(central, store_id, days))
    assert reply.status_code == 200, reply.text
    return int(reply.json()["visits"])


def choose_store(page: object, label: str) -> None:
    page.locator("select").first.select_option(label=label)  # type: ignore[attr-defined]


def test_no_cookie_gets_the_login_page_never_the_data(central: Central) -> None:
    for path in ("/dashboard", "/dashboard?store=sim-001"):
        reply = httpx.get(central.base + path, timeout=10, follow_redirects=False)
        assert reply.status_code == 303
        assert reply.headers["location"].split("?")[0].endswith("/login")
    login = httpx.get(central.base + "/login", timeout=10)
    assert login.status_code == 200
    assert 'name="api_key"' in login.text
    forged = httpx.get(central.base + "/dashboard", cookies={"retail_session": "forged.value.here"}, timeout=10)
    assert forged.status_code == 303
    wrong = httpx.post(central.base + "/login", data={"api_key": "deadbeefdeadbeef.wrong"}, timeout=30)
    assert wrong.status_code == 401
    assert "not accepted" in wrong.text
    assert "retail_session" not in wrong.cookies
    # after logging in, back to the page asked for, never to another site
    for wanted, landing in (
        ("/dashboard?store=sim-002", "/dashboard?store=sim-002"),
        ("//evil.example/x", "/dashboard"),
    ):
        login = httpx.post(central.base + "/login", data={"api_key": central.viewer_key, "next": wanted}, timeout=30)
        assert login.status_code == 303
        assert login.headers["location"] == landing
    # the websocket refuses a connection without a cookie before any Bokeh message
    ws = httpx.get(
        central.base + "/dashboard/ws",
        headers={
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
        timeout=10,
    )
    assert ws.status_code in (403, 1008) or ws.status_code >= 400


def test_overview_and_store_pages_show_the_api_numbers(browser: object, central: Central) -> None:
    page = open_dashboard(browser, central, central.viewer_key)
    summary_line = wait_text(page, r"\d+ stores · ")
    assert summary_line.startswith("4 stores")  # three simulated and the live one
    today = datetime.now(timezone.utc).date()
    utc_days = {"from": (today - timedelta(days=6)).isoformat(), "to": (today + timedelta(days=1)).isoformat()}
    overview = {s["store_id"]: s for s in central.api("/overview", **utc_days).json()["stores"]}
    for store_id, name in (("sim-001", "Sim Riverside 001"), ("sim-002", "Sim Old Town 002")):
        row = page.locator(".tabulator-row", has_text=name).first
        shown = row.locator('[tabulator-field="visitors"]').inner_text()
        assert int(shown) == overview[store_id]["period"]["visits"] > 0
    shot(page, "overview")
    # a click on a store's row opens its page, showing the API's visitors for the same range (default 7 days)
    expected = api_visits(central, "sim-001", 7)
    page.locator(".tabulator-row", has_text="Sim Riverside 001").first.click()
    page.locator(".bk-tab.bk-active", has_text="Store").wait_for(timeout=20_000)
    assert visitors_shown(page) == expected
    assert page.locator("canvas").count() >= 6  # visitors, dwell, behaviour, lines, occupancy, heatmaps, paths
    shot(page, "store")

    # another store, then another range: the numbers follow, and stay the API's
    choose_store(page, "Sim Old Town 002 (sim-002)")
    other = api_visits(central, "sim-002", 7)
    assert other != expected
    assert settle_visitors(page, other) == other
    page.locator("button.bk-btn", has_text="today").first.click()
    today = api_visits(central, "sim-002", 1)
    assert today != other
    assert settle_visitors(page, today) == today
    page.close()


def test_fleet_page_lists_every_agent(browser: object, central: Central) -> None:
    page = open_dashboard(browser, central, central.viewer_key)
    page.locator(".bk-tab", has_text="Fleet").click()
    line = wait_text(page, r"\d+ agents\*?\*?, \d+ online")
    agents = httpx.get(
        f"{central.base}/api/v1/fleet", headers={"Authorization": f"Bearer {central.viewer_key}"}, timeout=10
    ).json()
    assert line.startswith(f"{agents['total']} agents")
    row = page.locator(".tabulator-row", has_text="agent-sim-001").first
    row.wait_for(timeout=30_000)
    detector = next(m for m in agents["agents"] if m["agent_id"] == "agent-sim-001")["models"][0]
    assert f"{detector['name']}/{detector['version']} (onnxruntime/CPU {detector['precision']})" in row.inner_text()
    shot(page, "fleet")
    page.close()


def test_a_pushed_summary_appears_without_a_reload(browser: object, central: Central) -> None:
    page = open_dashboard(browser, central, central.viewer_key, f"/dashboard?store={LIVE_STORE}")
    page.locator(".bk-tab", has_text="Store").click()
    before = settle_visitors(page, api_visits(central, LIVE_STORE, 7))
    now = time.time()
    batch = push(LIVE_STORE, [summary(LIVE_STORE, start=now - 60, seconds=40)])
    ack = stub(central.grpc_port).Push(batch, metadata=auth(central.live_token), timeout=10)
    assert [r.status for r in ack.results] == [1]
    assert settle_visitors(page, before + 1) == before + 1
    page.close()


def test_an_hour_with_a_disconnected_camera_shows_as_a_gap(browser: object, central: Central) -> None:
    hour = int(time.time() // 3600 * 3600)
    up, down = hour - 4 * 3600, hour - 3 * 3600  # the camera delivered frames, then was disconnected an hour
    uptime = [
        pb.CameraUptime(camera_id="cam2", bucket_start=stamp(h), bucket_seconds=3600, seconds_up=s)
        for h, s in ((up, 3600.0), (down, 0.0), (hour - 2 * 3600, 3600.0))
    ]
    batch = push(LIVE_STORE, [summary(LIVE_STORE, camera_id="cam2", start=up + 60)], camera_uptime=uptime)
    ack = stub(central.grpc_port).Push(batch, metadata=auth(central.live_token), timeout=10)
    assert {r.status for r in ack.results} == {1}
    series = central.api(f"/stores/{LIVE_STORE}/traffic", camera_id="cam2", **local_days(central, LIVE_STORE, 2))
    points = {p["ts"]: p for p in series.json()["series"][0]["points"]}
    assert points[down]["missing"] is True
    assert points[down]["visits"] is None  # missing, not zero

    page = open_dashboard(browser, central, central.viewer_key, f"/dashboard?store={LIVE_STORE}")
    page.locator(".bk-tab", has_text="Store").click()
    wait_text(page, r"\d+ hours? missing data")
    bands = page.evaluate(GAP_BANDS_JS)  # x of each grey band, in the store's local time (ms)
    offset_ms = ZoneInfo(TIMEZONE).utcoffset(datetime.fromtimestamp(down)).total_seconds() * 1000
    assert (down + 1800) * 1000 + offset_ms in bands
    assert (up + 1800) * 1000 + offset_ms not in bands
    shot(page, "store-with-gap")
    page.close()


def test_viewer_sees_no_admin_control_and_cannot_forge_one(browser: object, central: Central) -> None:
    page = open_dashboard(browser, central, central.viewer_key)
    context_cookies = page.context.cookies()  # type: ignore[attr-defined]
    cookie = next(c for c in context_cookies if c["name"] == "retail_session")
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    assert cookie["value"] not in page.content()  # the Bokeh token in the page does not carry it
    page.locator(".bk-tab", has_text="Store").click()
    wait_text(page, r"visitors in this store")
    assert page.locator("text=Upload background").count() == 0
    # admin-only requests sent with the viewer's session are refused by the server, not only hidden
    forged = httpx.get(f"{central.base}/api/v1/apikeys", cookies={"retail_session": cookie["value"]}, timeout=10)
    assert forged.status_code == 403
    upload = httpx.put(
        f"{central.base}/api/v1/stores/sim-001/cameras/cam-1/background",
        content=png(64, 48),
        headers={"Content-Type": "image/png"},
        cookies={"retail_session": cookie["value"]},
        timeout=10,
    )
    assert upload.status_code == 403
    assert central.api("/stores/sim-001/cameras/cam-1/background").status_code == 404
    read = httpx.get(f"{central.base}/api/v1/stores", cookies={"retail_session": cookie["value"]}, timeout=10)
    assert read.status_code == 200
    page.close()


def test_an_admin_uploads_a_camera_background_and_the_heatmap_is_drawn_over_it(
    browser: object, central: Central, tmp_path: Path
) -> None:
    picture = tmp_path / "floor.png"
    picture.write_bytes(png(640, 360))
    page = open_dashboard(browser, central, central.admin_key, "/dashboard?store=sim-001")
    page.locator(".bk-tab", has_text="Store").click()
    wait_text(page, r"visitors in this store")
    assert page.evaluate(BACKGROUNDS_JS) == 0
    shot(page, "store-admin")
    page.locator(".bk-input-group", has_text="Picture of camera").locator("select").select_option("cam-1")
    page.locator("input[type=file]").set_input_files(str(picture))
    page.locator("button", has_text="Upload background").click()
    wait_text(page, r"Uploaded cam-1's picture: 640 x 360 image/png")
    deadline = time.monotonic() + 20
    while page.evaluate(BACKGROUNDS_JS) != 1 and time.monotonic() < deadline:
        page.wait_for_timeout(300)
    assert page.evaluate(BACKGROUNDS_JS) == 1  # cam-1's heatmap, over its picture
    stored = central.api("/stores/sim-001/cameras/cam-1/background")
    assert stored.status_code == 200
    assert stored.headers["content-type"] == "image/png"
    shot(page, "store-admin-background")
    page.close()


def test_an_admin_reads_a_rollouts_ab_comparison_and_pauses_it(
    browser: object, central: Central, mlflow_store: tuple[str, list[str]]
) -> None:
    admin = {"Authorization": f"Bearer {central.admin_key}"}
    body = {"model_name": "behavior-classifier", "version": mlflow_store[1][1], "canary_stores": ["sim-001"]}
    started = httpx.post(f"{central.base}/api/v1/rollouts", json=body, headers=admin, timeout=60)
    assert started.status_code == 201, started.text
    rollout_id = started.json()["rollout_id"]

    viewer_page = open_dashboard(browser, central, central.viewer_key)
    viewer_page.locator(".bk-tab", has_text="Fleet").click()
    wait_text(viewer_page, r"\d+ agents")
    assert viewer_page.locator("text=Model rollouts").count() == 0
    viewer_page.close()

    page = open_dashboard(browser, central, central.admin_key)
    page.locator(".bk-tab", has_text="Fleet").click()
    page.locator(".tabulator-row", has_text=rollout_id).first.wait_for(timeout=30_000)
    page.locator(".tabulator-row", has_text="rest of the fleet").first.wait_for(timeout=30_000)
    shot(page, "fleet-admin-rollout")
    # the canary has no visits yet: its mean dwell is "-", not "NaN"
    assert "NaN" not in page.locator(".tabulator-row", has_text="canary").first.inner_text()
    page.locator("button", has_text="Pause").click()
    wait_text(page, f"pause: rollout {rollout_id} is now paused")
    status = httpx.get(f"{central.base}/api/v1/rollouts/{rollout_id}", headers=admin, timeout=10).json()
    assert status["state"] == "paused"
    page.close()


def test_pages_logged_no_console_error(central: Central) -> None:
    assert central.console == []
