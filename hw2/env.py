"""The one reader of the ``HW2_*`` environment variables that tune numbers and switches.

Every setting read from the environment goes through these three functions, so "unset, empty or
not a number means the default" holds everywhere alike (a typo in a variable never crashes a
daemon; the default is used).
"""

from __future__ import annotations

import os

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def env_int(name: str, default: int, minimum: int | None = None) -> int:
    """``int($name)``; the default when unset, empty or not an integer; at least ``minimum``."""
    try:
        value = int(os.environ.get(name, "").strip() or default)
    except ValueError:
        value = default
    return value if minimum is None else max(minimum, value)


def env_float(name: str, default: float, minimum: float | None = None) -> float:
    """``float($name)``; the default when unset, empty or not a number; at least ``minimum``."""
    try:
        value = float(os.environ.get(name, "").strip() or default)
    except ValueError:
        value = default
    if value != value:  # NaN
        value = default
    return value if minimum is None else max(minimum, value)


def env_flag(name: str, default: bool = False) -> bool:
    """``$name`` as a switch: 1/true/yes/on or 0/false/no/off (any case); else the default."""
    text = os.environ.get(name, "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return default
