"""Trainers run as subprocesses: python -m trainers.mlp / python -m trainers.cnn."""
