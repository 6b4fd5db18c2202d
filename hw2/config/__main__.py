"""``python -m hw2.config``: print the schema reference, update it in a doc, or validate config files."""

from __future__ import annotations

import sys

from hw2.config.reference import _main

if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
