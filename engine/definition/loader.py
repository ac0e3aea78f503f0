"""YAML read safely, remembering the line of every key and item, refusing duplicate keys.

A workflow file is refused before it is built into values when it is too big, nests too
deep, or expands too far through its aliases (``&anchor`` … ``*anchor``: a "billion
laughs" file is a few hundred bytes that expand to a billion values). The limits are
generous for any real workflow and written in the README.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_BYTES = 8 * 1024 * 1024  # a 10,000-step workflow is about 0.5 MB
MAX_VALUES = 1_000_000  # values in the file once every alias is expanded
MAX_DEPTH = 64  # mappings and lists within each other
MAX_DIGITS = 1000  # in an integer


class TooBig(ValueError):
    """A limit was passed: the message says which, the line where (None: the file)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class LineDict(dict[Any, Any]):
    line: int = 0
    key_lines: dict[Any, int]


class LineList(list[Any]):
    line: int = 0
    item_lines: list[int]


_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Loader(_Base):  # type: ignore[valid-type,misc]
    """A SafeLoader that remembers lines, refuses duplicate keys, and reads a plain key
    such as ``on`` or ``yes`` as the word it is (YAML 1.1 would make it a boolean)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        mapping = LineDict()
        mapping.line = node.start_mark.line + 1
        mapping.key_lines = {}
        self.flatten_mapping(node)
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:bool" and not key_node.style:
                # A key is a name: `on:` (the hooks) is "on", not YAML 1.1's true.
                key: Any = key_node.value
            else:
                key = self.construct_object(key_node, deep=True)
            if key in mapping:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            mapping[key] = self.construct_object(value_node, deep=True)
            mapping.key_lines[key] = key_node.start_mark.line + 1
        return mapping

    def construct_yaml_int(self, node: yaml.ScalarNode) -> Any:
        digits = sum(c.isdigit() for c in str(node.value))
        if digits > MAX_DIGITS:
            raise TooBig(
                f"an integer of {digits:,} digits; numbers have at most {MAX_DIGITS:,}"
                " (quote it to make it a string)",
                node.start_mark.line + 1,
            )
        return super().construct_yaml_int(node)

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> Any:
        seq = LineList(self.construct_object(child, deep=True) for child in node.value)
        seq.line = node.start_mark.line + 1
        seq.item_lines = [child.start_mark.line + 1 for child in node.value]
        return seq


Loader.add_constructor("tag:yaml.org,2002:map", Loader.construct_mapping)
Loader.add_constructor("tag:yaml.org,2002:seq", Loader.construct_sequence)
Loader.add_constructor("tag:yaml.org,2002:int", Loader.construct_yaml_int)


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
    """The YAML document in ``text``, with lines kept.

    Raises:
        yaml.YAMLError: it is not well-formed YAML.
        TooBig: it passes one of the limits.
    """
    size = len(text.encode("utf-8", errors="replace"))
    if size > MAX_BYTES:
        raise TooBig(f"the file is {size:,} bytes; a workflow file has at most {MAX_BYTES:,}")
    loader = Loader(text)
    try:
        node = loader.get_single_node()  # composing is linear: aliases stay shared nodes
        if node is None:
            return None
        _check_size(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _check_size(root: yaml.Node) -> None:
    """Count the values the document holds with every alias expanded, and its depth.

    Iterative, and linear in the distinct nodes: an alias is a node met again, whose
    count is known by then (the composer refuses recursive aliases).
    """
    counts: dict[int, int] = {}
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        if id(node) in counts:
            continue
        if isinstance(node, yaml.ScalarNode):
            counts[id(node)] = 1
            continue
        children: list[yaml.Node] = (
            [n for pair in node.value for n in pair]
            if isinstance(node, yaml.MappingNode)
            else list(node.value)
        )
        if done:
            total = 1 + sum(counts[id(c)] for c in children)
            if total > MAX_VALUES:
                raise TooBig(
                    f"the file holds more than {MAX_VALUES:,} values once its aliases"
                    " (*name) are expanded",
                    node.start_mark.line + 1,
                )
            counts[id(node)] = total
            continue
        if depth > MAX_DEPTH:
            raise TooBig(
                f"mappings and lists nest more than {MAX_DEPTH} deep", node.start_mark.line + 1
            )
        stack.append((node, depth, True))
        stack.extend((c, depth + 1, False) for c in children if id(c) not in counts)
