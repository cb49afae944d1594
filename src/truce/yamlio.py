"""YAML as the project reads it: safe types only, and a key given twice in one mapping is an
error (PyYAML keeps the last silently, which would drop a lexicon list or an agreement clause)."""

from __future__ import annotations

from typing import IO, Any

import yaml


class _StrictLoader(yaml.SafeLoader):
    pass


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping", node.start_mark, f"the key {key!r} is given twice", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load(stream: str | IO[str]) -> Any:
    """Parse one YAML document; raises ``yaml.YAMLError`` (with ``problem_mark``) on bad input."""
    return yaml.load(stream, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass


def problem(e: yaml.YAMLError) -> tuple[str, int | None]:
    """A one-line message and the 1-based line for a parse error."""
    mark = getattr(e, "problem_mark", None)
    return f"invalid YAML: {getattr(e, 'problem', e)}", (mark.line + 1) if mark else None
