"""Each kind of box installs exactly one package that owns the ``onnxruntime`` module, and no heavy extra.

pip resolves the project's extras (``pip install --dry-run --report``) against stand-in wheels: one empty wheel
per requirement named in ``pyproject.toml``, at a version its bounds allow, with no dependencies of its own. So
the resolution tested is exactly the one the extras declare, offline and in seconds, and a requirement moved to
the wrong extra shows up as a package installed (or missing) on the wrong box.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11's tomllib")

Resolve = Callable[[str], set[str]]
REPO = Path(__file__).resolve().parents[1]
PROJECT = "retail-analytics"
# every distribution that installs an `onnxruntime` module
ORT_OWNERS = {"onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-directml"}
HEAVY = {"torch", "mlflow", "panel"}


def _stub_version(req: Requirement) -> str:
    """A version the requirement's bounds allow: its lower bound or pinned version, else 1.0."""
    for spec in req.specifier:
        if spec.operator in ("==", ">=", "~="):
            return spec.version
    return "1.0"


def _write_stub(folder: Path, req: Requirement) -> None:
    name = canonicalize_name(req.name)
    version = _stub_version(req)
    assert req.specifier.contains(Version(version)), f"no stand-in version for {req}"
    dist = f"{name.replace('-', '_')}-{version}"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Provides-Extra: {extra}\n" for extra in sorted(req.extras)
    )
    with zipfile.ZipFile(folder / f"{dist}-py3-none-any.whl", "w") as whl:
        whl.writestr(f"{dist}.dist-info/METADATA", metadata)
        whl.writestr(
            f"{dist}.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        whl.writestr(f"{dist}.dist-info/RECORD", "")


@pytest.fixture(scope="module")
def resolve(tmp_path_factory: pytest.TempPathFactory) -> Resolve:
    root = tmp_path_factory.mktemp("extras")
    project = root / "project"
    project.mkdir()
    # the metadata is all pip needs: no package is found beside these two files, so the build takes a second
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, project / name)
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    requirements = [Requirement(r) for r in pyproject["project"]["dependencies"]]
    requirements += [Requirement(r) for extra in pyproject["project"]["optional-dependencies"].values() for r in extra]
    wheels = root / "wheels"
    wheels.mkdir()
    seen: set[str] = set()
    for req in requirements:
        if canonicalize_name(req.name) not in seen and canonicalize_name(req.name) != PROJECT:
            seen.add(canonicalize_name(req.name))
            _write_stub(wheels, req)

    def run(extras: str) -> set[str]:
        report = root / f"report-{extras}.json"
        result = subprocess.run(
            [
                sys.executable, "-m", "pip", "--isolated", "--disable-pip-version-check", "install", "--dry-run",
                "--quiet", "--no-index", "--find-links", str(wheels), "--no-build-isolation",
                "--ignore-installed", "--report", str(report), f"{project}[{extras}]",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        installed = json.loads(report.read_text(encoding="utf-8"))["install"]
        return {canonicalize_name(item["metadata"]["name"]) for item in installed}

    return run


@pytest.mark.parametrize(
    ("extras", "runtime", "also"),
    [
        pytest.param("edge", {"onnxruntime"}, set(), id="cpu-box"),
        pytest.param("gpu", {"onnxruntime-gpu"}, set(), id="gpu-box"),
        pytest.param("gpu,tensorrt", {"onnxruntime-gpu"}, {"tensorrt", "cuda-python"}, id="gpu-box-with-engines"),
        pytest.param("openvino", {"onnxruntime"}, {"openvino"}, id="openvino-box"),
    ],
)
def test_each_box_installs_exactly_one_onnxruntime(
    resolve: Resolve, extras: str, runtime: set[str], also: set[str]
) -> None:
    installed = resolve(extras)

    assert installed & ORT_OWNERS == runtime
    assert also <= installed
    assert not installed & HEAVY, f"an edge box would install {sorted(installed & HEAVY)}"
    assert {"onnx", "opencv-python", "supervision"} <= installed  # edge-core: detect, track, optimize
    if "openvino" not in extras:
        assert "openvino" not in installed


def test_the_development_environment_of_make_test_has_one_onnxruntime_and_openvino(resolve: Resolve) -> None:
    installed = resolve("edge,central,training,dev")

    assert installed & ORT_OWNERS == {"onnxruntime"}
    assert {"openvino", "torch", "mlflow", "pytest"} <= installed
