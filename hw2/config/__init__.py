"""Reading experiment and study YAML into typed configs, with errors a person can act on.

Why this package exists: a typo in a config must cost seconds, not a failed GPU run. Every
problem in a file — YAML syntax, an unknown key, a wrong type, a value out of range, an unknown
trainer/model/optimizer — becomes one :class:`ConfigError` whose ``str()`` is a single line::

    configs/x.yaml:12: optimizer.lr: must be > 0 (got -1); fix: use a positive learning rate ...

and nothing else ever escapes :func:`load_experiment`, :func:`expand_study` or
:func:`parse_overrides` (a hypothesis test feeds them thousands of generated documents).

YAML is read with ``yaml.SafeLoader`` only. The loader first *composes* the node tree, which
keeps the line of every key, then constructs plain Python data; pydantic errors (whose ``loc``
is a key path) are mapped back to the line where that key was written — in the experiment, in
the study that changed it, or in the ``--set`` argument that overrode it.

Studies (sweeps) expand one base experiment over ``variants`` x ``grid`` x ``repeat``; see
``docs/configs.md`` for the format. UI-free and framework-free.

The modules, in dependency order:

* :mod:`~hw2.config.errors` — :class:`ConfigError` and the helpers that keep messages one line;
* :mod:`~hw2.config.yaml_lines` — YAML with the line of every key;
* :mod:`~hw2.config.schema_walk` — what a key path points at in the schema, types in words;
* :mod:`~hw2.config.validation` — pydantic errors mapped back to a file, line and fix;
* :mod:`~hw2.config.overrides` — ``--set key.path=value`` parsing and merging;
* :mod:`~hw2.config.experiments` — one experiment, :class:`PlannedRun`, :func:`trainer_module`;
* :mod:`~hw2.config.studies` — studies expanded into runs;
* :mod:`~hw2.config.smoke` — smoke runs: a config shrunk to seconds (``--smoke``);
* :mod:`~hw2.config.discovery` — every file under ``configs/``;
* :mod:`~hw2.config.reference` — the generated schema reference (``python -m hw2.config``).
"""

from __future__ import annotations

from hw2.config.discovery import ConfigEntry, discover
from hw2.config.errors import DOC_FIELD, ConfigError
from hw2.config.experiments import PlannedRun, is_study, load_experiment, trainer_module
from hw2.config.overrides import OVERRIDE_FILE, overrides_to_args, parse_overrides
from hw2.config.reference import REFERENCE_BEGIN, REFERENCE_END, schema_reference, write_reference
from hw2.config.smoke import SMOKE_PREFIX, smoke_config, smoke_planned
from hw2.config.studies import MAX_REPEAT, MAX_RUNS, expand_study

__all__ = [
    "DOC_FIELD",
    "MAX_REPEAT",
    "MAX_RUNS",
    "OVERRIDE_FILE",
    "REFERENCE_BEGIN",
    "REFERENCE_END",
    "SMOKE_PREFIX",
    "ConfigEntry",
    "ConfigError",
    "PlannedRun",
    "discover",
    "expand_study",
    "is_study",
    "load_experiment",
    "overrides_to_args",
    "parse_overrides",
    "schema_reference",
    "smoke_config",
    "smoke_planned",
    "trainer_module",
    "write_reference",
]
