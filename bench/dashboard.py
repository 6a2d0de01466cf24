"""What the dashboard costs as the chain grows: first render of the overview and of a store page, in Debian's
Chromium against a real ``retail-central serve``, and central's memory with many pages open. Prints a table.

The rollups of ``--stores`` x ``--days`` are written directly (``bench/chain_overview.py``'s loader: traffic
per camera and zone, uptime with a dead camera now and then, agents; no raw summaries, so the trajectory plot
is empty), then central starts on that SQLite file. "First render" runs from the login's submit to the
overview's summary line, and from the click on the Store tab to the store's visitor count: the data read,
the figures built, sent over the websocket and drawn.

    .venv/bin/python bench/dashboard.py --stores 20 200 --days 30 --sessions 20
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, sync_playwright

from central.api.keys import create_api_key
from central.db.engine import make_engine
from central.db.migrate import upgrade

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chain_overview import load  # a sibling script, not a package

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def serve(database_url: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "central", "serve", "--database", database_url, "--grpc-port", "0", "--http-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if found := re.search(r"dashboard on (http://\S+)/dashboard", line):
            return proc, found.group(1)
    proc.kill()
    raise RuntimeError("central did not start")


def log_in(browser: Browser, base: str, key: str, path: str = "/dashboard") -> tuple[Page, float]:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(base + path)
    page.fill("#api_key", key)
    started = time.perf_counter()
    page.click("button[type=submit]")
    page.locator("text=/\\d+ stores · /").first.wait_for(timeout=300_000)
    return page, time.perf_counter() - started


def store_render(page: Page) -> float:
    started = time.perf_counter()
    page.locator(".bk-tab", has_text="Store").click()
    page.locator("text=/visitors in this store/").first.wait_for(timeout=300_000)
    return time.perf_counter() - started


def bench(n_stores: int, days: int, sessions: int) -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'central.db'}"
        engine = make_engine(url)
        upgrade(engine)
        started = time.perf_counter()
        rows = load(engine, n_stores, days, time.time())
        loaded_s = time.perf_counter() - started
        key = create_api_key(engine, "bench", "viewer")
        engine.dispose()
        proc, base = serve(url)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
                idle_mb = rss_mb(proc.pid)
                page, first_overview = log_in(browser, base, key)
                first_store = store_render(page)
                page.close()
                overview_again = [log_in(browser, base, key)[1]]
                pages: list[Any] = []
                for _ in range(sessions):
                    opened, seconds = log_in(browser, base, key)
                    pages.append(opened)
                    overview_again.append(seconds)
                time.sleep(2)
                open_mb = rss_mb(proc.pid)
                browser.close()
        finally:
            proc.terminate()
            proc.wait(30)
    per_session = (open_mb - idle_mb) / sessions if sessions else float("nan")
    return [
        f"{n_stores} x {days}",
        f"{rows:,}",
        f"{loaded_s:.1f}",
        f"{first_overview:.2f}",
        f"{sorted(overview_again)[len(overview_again) // 2]:.2f}",
        f"{first_store:.2f}",
        f"{idle_mb:.0f}",
        f"{open_mb:.0f}",
        f"{per_session:.1f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", type=int, nargs="+", default=[20, 200])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--sessions", type=int, default=20, help="dashboard pages open at once for the memory row")
    args = parser.parse_args()
    header = [
        "stores x days",
        "rollup rows",
        "load s",
        "overview first s",
        "overview median s",
        "store page s",
        "central MB idle",
        f"MB, {args.sessions} pages open",
        "MB per page",
    ]
    rows = [bench(n, args.days, args.sessions) for n in args.stores]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
