"""YAML read safely, remembering the line of every key and item, refusing duplicate keys."""

from __future__ import annotations

from typing import Any

import yaml


class LineDict(dict[Any, Any]):
    line: int = 0
    key_lines: dict[Any, int]


class LineList(list[Any]):
    line: int = 0
    item_lines: list[int]


_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Loader(_Base):  # type: ignore[valid-type,misc]
    """A SafeLoader that remembers lines and refuses duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        mapping = LineDict()
        mapping.line = node.start_mark.line + 1
        mapping.key_lines = {}
        self.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in mapping:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            mapping[key] = self.construct_object(value_node, deep=True)
            mapping.key_lines[key] = key_node.start_mark.line + 1
        return mapping

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> Any:
        seq = LineList(self.construct_object(child, deep=True) for child in node.value)
        seq.line = node.start_mark.line + 1
        seq.item_lines = [child.start_mark.line + 1 for child in node.value]
        return seq


Loader.add_constructor("tag:yaml.org,2002:map", Loader.construct_mapping)
Loader.add_constructor("tag:yaml.org,2002:seq", Loader.construct_sequence)


def line_of(data: Any, loc: tuple[int | str, ...]) -> int | None:
    line: int | None = getattr(data, "line", None)
    node = data
    for part in loc:
        if isinstance(node, LineDict) and part in node:
            line = node.key_lines.get(part, line)
            node = node[part]
        elif isinstance(node, LineList) and isinstance(part, int) and part < len(node):
            line = node.item_lines[part]
            node = node[part]
        else:
            break
    return line


def field_name(data: Any, loc: tuple[int | str, ...]) -> str:
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            step_id = (
                node[part].get("id")
                if isinstance(node, list) and part < len(node) and isinstance(node[part], dict)
                else None
            )
            out += f"[{part}]" if step_id is None else f"[{step_id}]"
        else:
            out += f".{part}" if out else str(part)
        node = (
            node.get(part)
            if isinstance(node, dict)
            else (
                node[part]
                if isinstance(node, list) and isinstance(part, int) and part < len(node)
                else None
            )
        )
    return out


def read(text: str) -> Any:
    """The YAML document in ``text``, with lines kept (yaml.YAMLError if malformed)."""
    return yaml.load(text, Loader=Loader)
