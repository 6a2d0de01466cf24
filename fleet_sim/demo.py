"""``make demo``: the whole product on one machine, until Ctrl-C.

1. ``retail-central serve`` on a fresh SQLite database in ``demo-output/system``, with a viewer and an admin
   API key and a store ``intel-demo`` with its enrollment token.
2. The fleet simulator, as agents of ``--stores`` stores over ``--days`` days, pushing through the real gRPC
   ingest, yesterday first and back from there: every store has its latest day within a minute or so, then
   the history fills in behind it while the dashboard redraws.
3. The edge agent (``retail-edge run``) on Intel's sample clip, played in real time in a loop, as one more
   store syncing to central for real (HOG detector: no model file needed). Where the clip is not on this
   machine the demo says so and runs with the simulator alone.
4. The dashboard's address and the key to log in with, printed as soon as every simulated store has its
   latest day; Ctrl-C (or SIGTERM) stops the three processes, agent and simulator first.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated

import httpx
import typer
import yaml

from central.api.keys import create_api_key
from central.db.engine import make_engine
from central.db.migrate import upgrade
from central.stores import create_store
from edge_agent.demo import DemoInputError, find_demo_clip
from retail_common.cli import fail

DEMO_STORE = "intel-demo"
READY_TIMEOUT_S = 120.0
STOP_WAIT_S = 15.0

app = typer.Typer(add_completion=False)


@dataclass
class Processes:
    """The demo's children, stopped in reverse order of start."""

    running: list[tuple[str, subprocess.Popen[str]]] = field(default_factory=list)

    def start(self, name: str, args: Sequence[str], log: Path) -> subprocess.Popen[str]:
        out = log.open("w", encoding="utf-8")
        proc = subprocess.Popen(
            list(args), stdout=out, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
        self.running.append((name, proc))
        return proc

    def stop(self) -> None:
        for name, proc in reversed(self.running):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(STOP_WAIT_S)
                except subprocess.TimeoutExpired:
                    typer.echo(f"{name} did not stop within {STOP_WAIT_S:.0f} s: killed")
                    proc.kill()
                    proc.wait()
        self.running.clear()


def _wait_for_line(log: Path, pattern: str, proc: subprocess.Popen[str], timeout_s: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = re.search(pattern, log.read_text(encoding="utf-8", errors="replace"))
        if found:
            return found
        if proc.poll() is not None:
            raise fail(f"it exited ({proc.returncode}); its log: {log}")
        time.sleep(0.1)
    raise fail(f"no {pattern!r} within {timeout_s:.0f} s; see {log}")


def _latest_day_everywhere(base: str, key: str, stores: int) -> bool:
    """Whether every simulated store has visits on its latest simulated day (yesterday) in the overview."""
    yesterday = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86_400))
    today = time.strftime("%Y-%m-%d", time.gmtime())
    try:
        reply = httpx.get(
            f"{base}/api/v1/overview",
            params={"from": yesterday, "to": today, "limit": 1000},
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
    except httpx.HTTPError:
        return False
    if reply.status_code != 200:
        return False
    sims = [s for s in reply.json()["stores"] if s["store_id"].startswith("sim-")]
    return len(sims) >= stores and all(s["period"]["visits"] > 0 for s in sims)


def _agent_config(folder: Path, clip: Path, grpc_port: int, token_file: Path) -> Path:
    text = (resources.files("edge_agent.config") / "demo.yaml").read_text(encoding="utf-8")
    config = yaml.safe_load(text)
    config["store_id"] = DEMO_STORE
    config["agent_id"] = "intel-demo-edge"
    config["store"] = {"path": str(folder / "agent.db")}
    for camera in config["cameras"]:
        camera["source"] = str(clip)
        camera["loop"] = True
        camera["realtime"] = True
    config["sync"] = {
        "target": f"127.0.0.1:{grpc_port}",
        "token_file": str(token_file),
        "interval_s": 5,
        "heartbeat_s": 5,
    }
    config["runtime"] = {"health": {"port": 0}}
    path = folder / "agent.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="folder for the demo's database, configs and logs")] = Path(
        "demo-output/system"
    ),
    stores: Annotated[int, typer.Option(min=1, max=200, help="simulated stores")] = 20,
    days: Annotated[int, typer.Option(min=1, max=90, help="days of simulated history, ending yesterday")] = 30,
    http_port: Annotated[int, typer.Option(min=1, max=65535, help="port of the dashboard and REST API")] = 8080,
    grpc_port: Annotated[int, typer.Option(min=1, max=65535, help="port of the gRPC ingest")] = 50051,
) -> None:
    """Central, the fleet simulator and an edge agent on the Intel clip; the dashboard's address and key."""
    started = time.monotonic()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    database = f"sqlite:///{(out / 'central.db').resolve()}"
    engine = make_engine(database)
    upgrade(engine)
    viewer = create_api_key(engine, "demo viewer", "viewer")
    admin = create_api_key(engine, "demo admin", "admin")
    token_file = out / "intel-demo.token"
    token_file.write_text(create_store(engine, DEMO_STORE, "Intel demo (edge agent)") + "\n", encoding="utf-8")
    token_file.chmod(0o600)
    engine.dispose()
    config = out / "central.yaml"
    config.write_text(
        yaml.safe_dump({"database_url": database, "grpc": {"port": grpc_port}, "http": {"port": http_port}}),
        encoding="utf-8",
    )
    python = sys.executable
    children = Processes()
    stopping = threading.Event()

    def stop_on_signal(_signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop_on_signal)
    # Ctrl-C stops everything even where the demo was started with SIGINT ignored (a shell's `cmd &`)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        central = children.start("central", [python, "-m", "central", "serve", "-c", str(config)], out / "central.log")
        _wait_for_line(out / "central.log", r"dashboard on (http://\S+)", central, READY_TIMEOUT_S)
        base = f"http://127.0.0.1:{http_port}"
        typer.echo(f"central up after {time.monotonic() - started:.1f} s (log: {out / 'central.log'})")
        sim_args = [python, "-m", "fleet_sim", "--stores", str(stores), "--days", str(days)]
        sim_args += ["--agents", str(stores), "--newest-first", "--today", "--target", f"127.0.0.1:{grpc_port}"]
        children.start("simulator", [*sim_args, "--database", database], out / "simulator.log")
        try:
            clip = find_demo_clip(Path(__file__).resolve().parent, download=False)
        except DemoInputError:
            typer.echo("the Intel sample clip is not on this machine: running with the simulator alone")
        else:
            agent_config = _agent_config(out, clip, grpc_port, token_file)
            children.start(
                "edge agent", [python, "-m", "edge_agent", "run", "-c", str(agent_config)], out / "agent.log"
            )
            typer.echo(f"edge agent on {clip.name} as store {DEMO_STORE} (log: {out / 'agent.log'})")
        deadline = time.monotonic() + READY_TIMEOUT_S * 5
        while not _latest_day_everywhere(base, viewer, stores) and not stopping.is_set():
            if time.monotonic() > deadline:
                raise fail(f"the simulated stores did not arrive; see {out / 'simulator.log'}")
            time.sleep(1.0)
        typer.echo(
            f"\ndashboard ready after {time.monotonic() - started:.1f} s: {base}/dashboard\n"
            f"  log in with the viewer key  {viewer}\n"
            f"  or the admin key            {admin}\n"
            f"  REST API: {base}/docs\n"
            f"history keeps filling in ({days} days of {stores} stores); Ctrl-C stops everything"
        )
        while not stopping.is_set():
            stopping.wait(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        typer.echo("stopping the edge agent, the simulator and central")
        children.stop()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
