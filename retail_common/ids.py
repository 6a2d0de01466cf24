"""Identifier rules shared by the agent's configuration, ingest and the API.

Store, camera, zone, line and agent ids are what an installer types into a YAML
file and what appears in every key central stores: 1-64 ASCII letters, digits,
``_``, ``-`` or ``.``, starting with a letter or digit. Track ids are random
UUID4s in their canonical lower-case form, so that a summary resent by any agent
keeps one key.
"""

from __future__ import annotations

import re
from typing import Annotated, Final

from pydantic import Field

ID_MAX: Final = 64
ID_RULE: Final = "1-64 letters, digits, '_', '-' or '.' starting with a letter or digit"
ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_ID = re.compile(ID_PATTERN)
#: exactly the strings that parse as a UUID whose version is 4 and print back unchanged
UUID4_PATTERN: Final = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
UUID_LENGTH: Final = 36
_UUID4 = re.compile(UUID4_PATTERN)

Identifier = Annotated[
    str,
    Field(min_length=1, max_length=ID_MAX, pattern=ID_PATTERN, description=ID_RULE),
]


def is_id(value: str) -> bool:
    # fullmatch: ``$`` would let one trailing newline through
    return _ID.fullmatch(value) is not None


def is_track_id(value: str) -> bool:
    return _UUID4.fullmatch(value) is not None


def id_problem(what: str, value: str) -> str | None:
    """Why ``value`` is not a valid id (``what`` names it in the message), or None."""
    if not value:
        return f"{what} is empty"
    if not is_id(value):
        return f"{what} {value!r} is not {ID_RULE}"
    return None
