"""hw2-tui: UI-free core (configs, run contract, queue, CLI)."""
