"""A program's systemd unit rendered for one machine, and its installation.

Each program keeps its unit's template in its own package (``<package>/units/<name>.service.in``):
``edge_agent.runtime`` holds ``retail-edge``, ``central`` holds ``retail-central``. The two
``install-service`` commands share :func:`install_service`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template
from typing import Annotated

import typer

from retail_common.cli import fail


class ServiceInstallError(RuntimeError):
    """The unit could not be installed; the message says why."""


@dataclass(frozen=True)
class UnitSettings:
    executable: Path  # the console script, e.g. /opt/retail/.venv/bin/retail-edge
    config: Path
    user: str = "retail-edge"
    state_dir: str = "retail-edge"  # under /var/lib, made by systemd (StateDirectory=)
    watchdog_s: int = 60


def unit_template(package: str, name: str) -> Template:
    text = (resources.files(package) / "units" / f"{name}.service.in").read_text(encoding="utf-8")
    return Template(text)


def render_unit(package: str, name: str, settings: UnitSettings) -> str:
    return unit_template(package, name).substitute(
        EXECUTABLE=str(settings.executable),
        CONFIG=str(settings.config),
        USER=settings.user,
        STATE_DIR=settings.state_dir,
        WATCHDOG_S=str(settings.watchdog_s),
    )


def default_executable(script: str) -> Path:
    found = shutil.which(script) or str(Path(sys.executable).with_name(script))
    return Path(found).resolve()


def install_unit(package: str, name: str, settings: UnitSettings, unit_dir: Path, enable: bool) -> Path:
    """Writes the unit, creates its system user if missing, and reloads (and enables) it with systemctl."""
    unit_dir.mkdir(parents=True, exist_ok=True)
    path = unit_dir / f"{name}.service"
    path.write_text(render_unit(package, name, settings), encoding="utf-8")
    if (
        shutil.which("useradd")
        and subprocess.run(["id", "-u", settings.user], capture_output=True, check=False).returncode
    ):
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", settings.user], check=True
        )
    if shutil.which("systemctl") and systemd_running():
        subprocess.run(["systemctl", "daemon-reload"], check=True)
        if enable:
            subprocess.run(["systemctl", "enable", "--now", f"{name}.service"], check=True)
    return path


def systemd_running() -> bool:
    """Whether systemd is the init system here (sd_booted's test); in a container or chroot it is not."""
    return Path("/run/systemd/system").is_dir()


def install_service(
    package: str, name: str, settings: UnitSettings, unit_dir: Path, enable: bool, check_command: str
) -> str:
    """Installs ``name``'s unit and says what was done; :class:`ServiceInstallError` when it cannot be.

    ``check_command`` is what the user runs to check a configuration, named when the file is missing.
    """
    if not settings.config.is_file():
        raise ServiceInstallError(
            f"configuration not found: {settings.config} (write it first; `{check_command}` checks it)"
        )
    try:
        path = install_unit(package, name, settings, unit_dir, enable)
    except (OSError, subprocess.CalledProcessError) as e:
        raise ServiceInstallError(f"cannot install {name}.service: {e} (run as root)") from e
    if not systemd_running():
        return f"installed {path}; systemd is not running here: enable it with `systemctl enable --now {name}`"
    return f"installed {path}" + (f"; {name} enabled and started" if enable else "")


def add_install_service_command(
    app: typer.Typer, package: str, name: str, default_config: Path, check_command: str, what: str
) -> None:
    """Adds ``install-service`` to a program's command line: render ``name``'s unit and install it.

    ``what`` says in the help what the unit runs (for example "the agent (Type=notify, watchdog)").
    """

    def command(
        config: Annotated[Path, typer.Option(help="configuration the service runs with")] = default_config,
        user: Annotated[str | None, typer.Option(help="system user (created if missing)")] = None,
        unit_dir: Annotated[Path, typer.Option(help="where systemd reads units")] = Path("/etc/systemd/system"),
        executable: Annotated[Path | None, typer.Option(help="console script to run (default: this install's)")] = None,
        enable: Annotated[bool, typer.Option(help="enable and start it now")] = True,
        print_only: Annotated[bool, typer.Option("--print", help="print the unit and change nothing")] = False,
    ) -> None:
        settings = UnitSettings(
            executable=executable or default_executable(name),
            config=config.resolve() if not print_only else config,
            user=user or name,
            state_dir=name,
        )
        if print_only:
            typer.echo(render_unit(package, name, settings), nl=False)
            return
        try:
            typer.echo(install_service(package, name, settings, unit_dir, enable, check_command))
        except ServiceInstallError as e:
            raise fail(str(e)) from e

    command.__doc__ = f"Render the systemd unit of {what} (hardening, state in /var/lib) and install it."
    app.command("install-service")(command)
