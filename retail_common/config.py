"""Strict YAML configuration for every program of the product: models that refuse unknown keys, and errors
that name the YAML path and line of each problem before anything starts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError


class StrictModel(BaseModel):
    """Base of every configuration model: unknown keys are errors, numbers are finite (no ``.inf`` or ``.nan``),
    values are frozen once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


ModelT = TypeVar("ModelT", bound=BaseModel)
MAX_CONFIG_BYTES = 1 << 20


@dataclass(frozen=True)
class ConfigProblem:
    path: str  # dotted YAML path, e.g. "cameras[0].zones[1].polygon"
    line: int | None  # 1-based line in the file, when known
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.path or '<root>'}: {self.message}"


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` lists each reason."""

    def __init__(self, source: str, problems: list[ConfigProblem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid configuration {source}:\n{lines}")


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """Line of the deepest YAML node that ``loc`` reaches (discriminator tags in ``loc`` are skipped)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            match = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part), None)
            if match is None:
                key = next((k for k, _ in node.value if isinstance(k, yaml.ScalarNode) and k.value == part), None)
                if key is not None:
                    return key.start_mark.line + 1
                continue  # a pydantic tag such as the union member name, not a YAML key
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            continue
        line = node.start_mark.line + 1
    return line


def _clean_loc(loc: tuple[int | str, ...], data: Any) -> tuple[int | str, ...]:
    """Drop pydantic's tagged-union member names (e.g. 'onnx'), which are not keys of the YAML."""
    out: list[int | str] = []
    cur: Any = data
    for part in loc:
        in_dict = isinstance(cur, dict) and part in cur
        in_list = isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur)
        if in_dict or in_list:
            cur = cur[part]
        elif isinstance(cur, dict) and isinstance(cur.get("type"), str) and part == cur["type"]:
            continue
        else:
            cur = None  # a key the file lacks: keep the field name, stop walking
        out.append(part)
    return tuple(out)


def parse_yaml_config(text: str, model: type[ModelT], source: str = "<string>") -> ModelT:
    """YAML text into ``model``; every error names its YAML path and line (used by the edge and central)."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(source, [ConfigProblem("", line, f"not valid YAML: {e}")]) from e
    except RecursionError as e:  # PyYAML recurses per level of nesting
        raise ConfigError(source, [ConfigProblem("", None, "nested too deeply to be a configuration")]) from e
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, [ConfigProblem("", 1, f"expected a mapping at the top, got {type(data).__name__}")])
    try:
        return model.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc = _clean_loc(tuple(err["loc"]), data)
            problems.append(ConfigProblem(_format_loc(loc), _line_of(root, loc), err["msg"]))
        raise ConfigError(source, problems) from e


def load_yaml_config(path: Path, model: type[ModelT]) -> ModelT:
    try:
        if path.exists() and not path.is_file():  # a device such as /dev/zero would be read forever
            raise ConfigError(str(path), [ConfigProblem("", None, "cannot read file: not a regular file")])
        with path.open("rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as e:
        raise ConfigError(str(path), [ConfigProblem("", None, f"cannot read file: {e.strerror or e}")]) from e
    if len(raw) > MAX_CONFIG_BYTES:
        problem = ConfigProblem("", None, f"larger than {MAX_CONFIG_BYTES // 1024} KiB: not a configuration")
        raise ConfigError(str(path), [problem])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        problem = ConfigProblem("", line, f"not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start})")
        raise ConfigError(str(path), [problem]) from e
    return parse_yaml_config(text, model, str(path))
