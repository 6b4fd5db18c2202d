"""``python -m trainers.data check ...``: see :mod:`trainers.data.cli`."""

from __future__ import annotations

import sys

from trainers.data.cli import main

if __name__ == "__main__":
    sys.exit(main())
