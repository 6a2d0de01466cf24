"""A model file from central's ``DownloadModel`` stream into a staging file, resumed after a cut, then verified.

The staging file lives in the models folder (same file system, so the verified
file is renamed into place, never copied) under a name that holds the
artifact's SHA-256: a cut download resumes from the staged size, also after a
restart. The working model is never touched here: a full disk fails the
install with ``disk_full`` and removes the partial file to give the space back.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from edge_agent.updater.policy import Assignment, InstallError
from retail_common.backoff import Backoff
from retail_common.rollout import FailureCode

logger = logging.getLogger(__name__)

STAGING = ".staging"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class Chunk:
    """One piece of the stream: ``data`` belongs at ``offset`` of a file of ``total_size`` bytes."""

    offset: int
    data: bytes
    total_size: int
    sha256: str


class StreamCutError(Exception):
    """The download stream broke (network, central restarted, deadline); the staged bytes are kept."""


# (name, version, offset) -> the chunks from ``offset`` on; raises StreamCutError when the stream breaks
Fetch = Callable[[str, str, int], Iterator[Chunk]]


def file_name(a: Assignment) -> str:
    """Where a verified artifact lives in the models folder: name, version and SHA-256 in the file name."""
    return _UNSAFE.sub("_", f"{a.name}-{a.version}-{a.sha256[:12]}") + ".onnx"


def staging_path(folder: Path, a: Assignment) -> Path:
    return folder / STAGING / (file_name(a) + f".{a.sha256}.part")


@dataclass
class Downloader:
    fetch: Fetch
    folder: Path  # the models folder
    attempts: int  # cuts in a row without a new byte before the install fails
    backoff: Backoff
    stop: threading.Event
    progress: Callable[[int], None] = lambda _done: None

    def download(self, a: Assignment) -> Path:
        """The verified file, renamed into the models folder; :class:`InstallError` otherwise."""
        part = staging_path(self.folder, a)
        try:
            part.parent.mkdir(parents=True, exist_ok=True)
            self._remove_other_parts(part)
            if part.exists() and part.stat().st_size > a.size_bytes:
                part.unlink()  # more than the file: not this artifact's bytes
        except OSError as e:
            raise _disk_failure(e, part) from e
        cuts = 0
        self.backoff.reset()
        while True:
            before = part.stat().st_size if part.exists() else 0
            try:
                complete = self._receive(a, part, before)
            except StreamCutError as e:
                complete, reason = False, str(e)
            else:
                reason = "the stream ended early"
            if complete:
                break
            after = part.stat().st_size if part.exists() else 0
            cuts = 0 if after > before else cuts + 1
            if after > before:
                self.backoff.reset()
            if cuts >= self.attempts:
                raise InstallError(
                    FailureCode.DOWNLOAD_FAILED,
                    f"{a.ref}: {reason}; {self.attempts} attempt(s) in a row brought no byte "
                    f"({after} of {a.size_bytes} staged, kept to resume)",
                )
            delay = self.backoff.next_delay()
            logger.warning(
                "%s: download cut at %d of %d bytes (%s); resuming in %.1f s", a.ref, after, a.size_bytes, reason, delay
            )
            if self.stop.wait(delay):
                raise InstallError(FailureCode.DOWNLOAD_FAILED, f"{a.ref}: the agent is stopping")
        return self._verify(a, part)

    def _receive(self, a: Assignment, part: Path, offset: int) -> bool:
        """Appends the stream's chunks from ``offset``; True once every byte is staged."""
        if offset == a.size_bytes:
            return True
        try:
            with part.open("ab") as f:
                for chunk in self.fetch(a.name, a.version, offset):
                    if chunk.total_size != a.size_bytes:
                        raise InstallError(
                            FailureCode.SIZE_MISMATCH,
                            f"{a.ref}: central serves {chunk.total_size} bytes, the assignment said {a.size_bytes}",
                        )
                    if chunk.sha256 != a.sha256:
                        raise InstallError(
                            FailureCode.SHA256_MISMATCH,
                            f"{a.ref}: central serves SHA-256 {chunk.sha256[:16]}..., the assignment announced "
                            f"{a.sha256[:16]}...",
                        )
                    if chunk.offset != offset:
                        raise StreamCutError(f"a chunk at offset {chunk.offset} where {offset} was expected")
                    if offset + len(chunk.data) > a.size_bytes:
                        raise InstallError(
                            FailureCode.SIZE_MISMATCH,
                            f"{a.ref}: the stream runs past the announced {a.size_bytes} bytes",
                        )
                    f.write(chunk.data)
                    f.flush()  # a full disk shows here, at the write, not later at close
                    offset += len(chunk.data)
                    self.progress(offset)
                    if self.stop.is_set():
                        raise StreamCutError("the agent is stopping")
                os.fsync(f.fileno())
        except OSError as e:
            raise _disk_failure(e, part) from e
        return offset == a.size_bytes

    def _verify(self, a: Assignment, part: Path) -> Path:
        size = part.stat().st_size
        if size != a.size_bytes:
            part.unlink()
            raise InstallError(FailureCode.SIZE_MISMATCH, f"{a.ref}: {size} bytes staged, {a.size_bytes} announced")
        digest = hashlib.sha256()
        with part.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != a.sha256:
            part.unlink()  # the next attempt starts from the first byte
            raise InstallError(
                FailureCode.SHA256_MISMATCH,
                f"{a.ref}: the downloaded bytes have SHA-256 {digest.hexdigest()[:16]}..., expected {a.sha256[:16]}...",
            )
        final = self.folder / file_name(a)
        part.replace(final)
        return final

    def _remove_other_parts(self, keep: Path) -> None:
        """Only one partial download is kept: the staging folder cannot fill the disk with old attempts."""
        for other in keep.parent.glob("*.part"):
            if other != keep:
                other.unlink(missing_ok=True)


def _disk_failure(e: OSError, part: Path) -> InstallError:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        part.unlink(missing_ok=True)  # give the space back to the store's database
        return InstallError(FailureCode.DISK_FULL, f"no room to stage the model in {part.parent}: {e.strerror}")
    return InstallError(FailureCode.DOWNLOAD_FAILED, f"cannot write {part}: {e.strerror or e}")
