"""How an error message names a value it refuses: its JSON kind, and the value itself where it is short.

One describer for every parser of what callers send (the decision contract, a fleet's economics, the controller's
fleets object), so the same wrong value reads the same wherever it is refused. No dependency but stdlib.
"""

from __future__ import annotations

from collections.abc import Mapping


def describe(value: object) -> str:
    """`null`, `boolean true`, `12.5`, `string 'abc'`, `a list`, `an object`; strings and numbers clipped."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return clip(repr(value))
    if isinstance(value, str):
        return f"string {clip(value)!r}"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def clip(text: str, limit: int = 40) -> str:
    """`text`, cut to `limit` characters (with `...`) so that a message never echoes a large payload."""
    return text if len(text) <= limit else text[:limit] + "..."
