"""Answers per homework question: seeds aggregated per variant, verdicts between variants
(:mod:`hw2.analysis.stats`). Built on :class:`hw2.runs.summary.RunSummary`, never on a copy."""
