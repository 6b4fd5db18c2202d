"""Runs: the one model of a run (:mod:`hw2.runs.summary`) and, around it, reading run folders."""
