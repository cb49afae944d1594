"""YAML as the project reads it: safe types only, and a key given twice in one mapping is an
error (PyYAML keeps the last silently, which would drop a lexicon list or an agreement clause).
No aliases (``*name``): a 2 KB alias bomb expands to billions of nodes; and an impossible
date (``2025-02-30``) is an error at its line, not a traceback."""

from __future__ import annotations

from typing import IO, Any

import yaml


class _StrictLoader(yaml.SafeLoader):
    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed; write the value out",
                                              event.start_mark)
        return super().compose_node(parent, index)

    def construct_yaml_int(self, node: Any) -> Any:
        try:
            return super().construct_yaml_int(node)
        except ValueError:  # thousands of digits (Python's int conversion limit)
            raise yaml.constructor.ConstructorError(None, None, f"number too long ({len(node.value)} digits)",
                                                    node.start_mark) from None

    def construct_yaml_timestamp(self, node: Any) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError):
            raise yaml.constructor.ConstructorError(None, None, f"impossible date {node.value!r}",
                                                    node.start_mark) from None


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
_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _StrictLoader.construct_yaml_timestamp)
_StrictLoader.add_constructor("tag:yaml.org,2002:int", _StrictLoader.construct_yaml_int)


def load(stream: str | IO[str]) -> Any:
    """Parse one YAML document; raises ``yaml.YAMLError`` (with ``problem_mark``) on bad input."""
    return yaml.load(stream, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass


def problem(e: yaml.YAMLError) -> tuple[str, int | None]:
    """A one-line message and the 1-based line for a parse error."""
    mark = getattr(e, "problem_mark", None)
    return f"invalid YAML: {getattr(e, 'problem', None) or e}", (mark.line + 1) if mark else None
