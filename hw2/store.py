"""Moved to :mod:`hw2.runs.store`; this name stays only while ``tui/app.py`` and
``tests/test_architecture.py`` still import ``hw2.store`` (delete it once they import the new one)."""

from hw2.runs.store import *  # noqa: F403
from hw2.runs.store import __all__  # noqa: F401
