"""Finding the demo's input: Intel's public "one-by-one person detection" sample clip.

"Intel IoT Developer Kit sample videos, https://github.com/intel-iot-devkit/sample-videos, CC BY 4.0."
The clip is looked for in the checkout's ``../shared/data`` folder, then in the
user's cache; otherwise it is downloaded once from GitHub and checked against
its SHA-256. Nothing here runs in tests.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.request
from pathlib import Path

logger = logging.getLogger(__name__)

CLIP_NAME = "one-by-one-person-detection.mp4"
CLIP_SHA256 = "a5964aa259099a482a8b360ffc2c57b5a30f84d5919236a4dad01f8e929ac07c"
CLIP_URL = f"https://github.com/intel-iot-devkit/sample-videos/raw/master/{CLIP_NAME}"
CREDIT = "Intel IoT Developer Kit sample videos, CC BY 4.0"


class DemoInputError(RuntimeError):
    """The demo clip is nowhere to be found and cannot be downloaded."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "retail-analytics"


def local_candidates(start: Path) -> list[Path]:
    """``shared/data`` beside the checkout (or any parent), then the cache."""
    found = [p / "shared" / "data" / "intel-sample-videos" / CLIP_NAME for p in [start, *start.parents]]
    return [*found, cache_dir() / CLIP_NAME]


def find_demo_clip(start: Path | None = None, download: bool = True) -> Path:
    for candidate in local_candidates((start or Path.cwd()).resolve()):
        if candidate.is_file() and sha256_of(candidate) == CLIP_SHA256:
            return candidate
    target = cache_dir() / CLIP_NAME
    if download:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".partial")
            logger.info("downloading the demo clip (%s) from %s", CREDIT, CLIP_URL)
            urllib.request.urlretrieve(CLIP_URL, tmp)
            if sha256_of(tmp) != CLIP_SHA256:
                tmp.unlink(missing_ok=True)
                raise DemoInputError(f"downloaded file from {CLIP_URL} does not have SHA-256 {CLIP_SHA256}")
            tmp.replace(target)
            return target
        except OSError as e:
            logger.warning("cannot download %s: %s", CLIP_URL, e)
    raise DemoInputError(
        f"the demo needs {CLIP_NAME} ({CREDIT}, SHA-256 {CLIP_SHA256}). Download it from {CLIP_URL} "
        f"and put it at {target}, or run `retail-edge analyze VIDEO --demo` on a copy of it."
    )
