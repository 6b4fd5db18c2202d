"""Studies (sweeps): one base experiment expanded over variants x grid x repeat."""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hw2.config.errors import ConfigError, Loc, _got, _one_line
from hw2.config.executor import config_mapping
from hw2.config.experiments import PlannedRun, _apply_cli, _cli_sets, _default_name, _validate
from hw2.config.overrides import _apply_layer, _check_key, _split_overrides
from hw2.config.validation import _from_validation, _Layer
from hw2.config.yaml_lines import _Doc, _looks_like_study, _read_doc
from hw2.schema import NAME_MAX_LEN, ExperimentConfig, StudySpec

MAX_RUNS = 1000  # a study expanding to more runs than this is almost surely a mistake


def _slug(value: Any, limit: int = 24) -> str:
    text = value if isinstance(value, str) else yaml.safe_dump(value, default_flow_style=True).strip()
    text = text.removesuffix("...").strip()
    slug = re.sub(r"[^A-Za-z0-9.+]+", "_", text).strip("_.")[:limit]
    return slug or "x"


def _grid_part(key: str, value: Any) -> str:
    parts = key.split(".")
    short = parts[-2] if parts[-1] == "name" and len(parts) > 1 else parts[-1]
    return f"{short}-{_slug(value)}"


def _value_text(value: Any) -> str:
    """A grid value as one short readable line (YAML flow style, control characters escaped)."""
    text = value if isinstance(value, str) else yaml.safe_dump(value, default_flow_style=True, width=10_000)
    return _one_line(text.strip().removesuffix("...").strip(), 120)


def _run_description(spec: StudySpec, arm: str | None, arm_text: str | None, cell: str, seed: int) -> str:
    """The ``description`` of one study run: what its variant is, not what the base experiment is.

    A variant's own ``description`` is used as written (plus the grid cell, if any); otherwise the
    study title, the variant name, the grid cell and the seed, e.g.
    ``"2.1.4 Optimizers ...: variant sgd, seed 0"``.
    """
    if arm_text:
        return f"{arm_text.strip()} ({cell})" if cell else arm_text.strip()
    parts = [f"variant {arm}"] if arm else []
    parts += [cell] if cell else []
    return f"{spec.study}: {', '.join([*parts, f'seed {seed}'])}"


def _study_spec(doc: _Doc) -> StudySpec:
    try:
        return StudySpec.model_validate(config_mapping(doc))
    except ValidationError as exc:
        raise _from_validation(exc, StudySpec, [_Layer(path=(), doc=doc)]) from None


def _study_sets(
    spec: StudySpec, doc: _Doc
) -> tuple[
    list[tuple[Loc, Any, _Layer]],
    list[tuple[str, list[tuple[Loc, Any, _Layer]]]],
    list[tuple[str, Loc, list[tuple[Any, _Layer]]]],
]:
    """Check every dotted key of the study against the schema (with lines), before expanding."""

    def checked(mapping: Mapping[str, Any], offset: Loc, label: str) -> list[tuple[Loc, Any, _Layer]]:
        out = []
        for key, value in mapping.items():
            line = doc.line_of((*offset, key))
            path = _check_key(key, file=doc.file, line=line, label=label)
            out.append((path, value, _Layer(path=path, doc=doc, offset=(*offset, key), label=label)))
        return out

    common = checked(spec.set, ("set",), "")
    names: dict[str, int] = {}
    variants = []
    for i, variant in enumerate(spec.variants):
        line = doc.line_of(("variants", i, "name"))
        if variant.name in names:
            raise ConfigError(
                f"duplicate variant name {variant.name!r} (first on line {names[variant.name]})",
                file=doc.file,
                line=line,
                field=f"variants[{i}].name",
                hint="give each variant its own name",
            )
        names[variant.name] = line
        label = f"variant {variant.name!r}"
        variants.append((variant.name, checked(variant.set, ("variants", str(i), "set"), label)))
    grid = []
    for key, values in spec.grid.items():
        path = _check_key(key, file=doc.file, line=doc.line_of(("grid", key)), label="grid")
        cells = []
        for j, value in enumerate(values):
            offset = ("grid", key, str(j))
            cells.append(
                (value, _Layer(path=path, doc=doc, offset=offset, label=f"grid {key}={_got(value)}"))
            )
        grid.append((".".join(path), path, cells))
    return common, variants, grid


def _expand(doc: _Doc, cli: list[tuple[str, Loc, Any, int]], repeat: int | None = None) -> list[PlannedRun]:
    spec = _study_spec(doc)
    if repeat is not None:  # the launcher's --repeat replaces the file's (checked by _check_repeat)
        spec = spec.model_copy(update={"repeat": repeat})
    common, variants, grid = _study_sets(spec, doc)
    base_file = os.path.normpath(os.path.join(os.path.dirname(doc.file), spec.base))
    base_line = doc.line_of(("base",))
    try:
        base_doc = _read_doc(base_file)
    except ConfigError as exc:
        if exc.line is None:  # missing / unreadable base: point at the study's 'base:' line
            raise ConfigError(
                f"base {spec.base!r}: {exc.problem}",
                file=doc.file,
                line=base_line,
                field="base",
                hint="give the experiment's path relative to this study file",
            ) from None
        raise
    base = config_mapping(base_doc)
    if _looks_like_study(base):
        raise ConfigError(
            f"base {spec.base!r} is itself a study",
            file=doc.file,
            line=base_line,
            field="base",
            hint="point base at an experiment YAML",
        )
    arms: list[tuple[str | None, list[tuple[Loc, Any, _Layer]]]] = list(variants) or [(None, [])]
    combos = list(
        itertools.product(*[[(dotted, path, v, layer) for v, layer in cells] for dotted, path, cells in grid])
    )
    total = len(arms) * len(combos) * spec.repeat
    if total > MAX_RUNS:
        raise ConfigError(
            f"expands to {total} runs (more than {MAX_RUNS})",
            file=doc.file,
            line=doc.line_of(("grid",) if grid else ("repeat",)),
            field="grid" if grid else "repeat",
            hint="split it into smaller studies",
        )
    described = {v.name: v.description for v in spec.variants if v.description.strip()}
    base_name = base.get("name")
    fallback = _slug(base_name if isinstance(base_name, str) and base_name else Path(base_file).stem, 40)
    runs: list[PlannedRun] = []
    used: set[str] = set()
    for arm_name, arm_sets in arms:
        for combo in combos:
            layers = [_Layer(path=(), doc=base_doc)]
            data: dict[str, Any] = dict(base)
            applied: dict[str, Any] = {}

            cli_sets = _cli_sets(cli)
            grid_sets = [(path, value, layer) for _d, path, value, layer in combo]
            for path, value, layer in [*common, *arm_sets, *grid_sets, *cli_sets]:
                dotted = ".".join(path)
                applied.pop(dotted, None)  # keep application order: a re-set key moves to the end
                applied[dotted] = value
                data = _apply_layer(data, layers, path, value, layer)
            try:
                cfg = _validate(data, layers)
            except ConfigError as exc:
                if exc.file != base_doc.file:
                    raise
                raise ConfigError(
                    f"{exc.problem} (base of study {doc.file})",
                    file=exc.file,
                    line=exc.line,
                    field=exc.field,
                    hint=exc.hint,
                    more=exc.more,
                ) from None
            parts = ([arm_name] if arm_name else []) + [_grid_part(d, v) for d, _p, v, _l in combo]
            stem = "-".join(parts) if parts else fallback
            cell = ", ".join(f"{d}={_value_text(v)}" for d, _p, v, _l in combo)
            for r in range(spec.repeat):
                run_cfg = cfg.model_copy(deep=True)
                seed_applied = dict(applied)
                if r:
                    seed_layer = _Layer(
                        path=("seed",), doc=doc, offset=("repeat",), label=f"repeat {spec.repeat}"
                    )
                    try:
                        run_cfg.seed = cfg.seed + r
                    except ValidationError as exc:
                        raise _from_validation(exc, ExperimentConfig, [*layers, seed_layer]) from None
                if spec.repeat > 1:
                    seed_applied.pop("seed", None)
                    seed_applied["seed"] = run_cfg.seed
                name = f"{stem[:60]}-s{run_cfg.seed}"
                unique, k = name, 2
                while unique in used:
                    unique, k = f"{name}-{k}", k + 1
                used.add(unique)
                run_cfg.name = unique
                if "description" not in applied:  # not set on purpose: describe the variant, not the base
                    text = _run_description(spec, arm_name, described.get(arm_name or ""), cell, run_cfg.seed)
                    run_cfg.description = text
                runs.append(
                    PlannedRun(
                        unique,
                        run_cfg,
                        base_file,
                        spec.study,
                        seed_applied,
                        variant=stem,
                        seed=run_cfg.seed,
                        study_file=doc.file,
                    )
                )
    return runs


MAX_REPEAT = 100  # as StudySpec.repeat allows


def _check_repeat(repeat: Any) -> int | None:
    """``repeat`` given at launch (``--repeat N``): None, or an int in 1..:data:`MAX_REPEAT`."""
    if repeat is None:
        return None
    if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= MAX_REPEAT:
        raise ConfigError(
            f"must be 1..{MAX_REPEAT} (got {_got(repeat)})",
            field="repeat",
            hint=f"pass --repeat N with N from 1 to {MAX_REPEAT}",
        )
    return repeat


def expand_study(
    path: str | os.PathLike[str], overrides: list[str] | None = None, repeat: int | None = None
) -> list[PlannedRun]:
    """The runs of a study (variants x grid x repeat), or one run for a plain experiment.

    ``repeat`` (``--repeat N`` at launch) replaces the study's ``repeat``: N runs per variant/grid
    cell with seeds seed..seed+N-1. For a plain experiment it gives N runs with those seeds, named
    ``<name>-s<seed>`` and sharing one ``variant`` (the experiment's name) so they group as seeds;
    ``repeat`` None or 1 leaves a plain experiment one run, as written.

    Raises only :class:`ConfigError`; an error in a study names the study file and line (and
    the variant or grid value), an error in the base experiment names the base file.
    """
    repeat = _check_repeat(repeat)
    cli = _split_overrides(overrides)
    doc = _read_doc(path)
    data = config_mapping(doc)
    if _looks_like_study(data):
        return _expand(doc, cli, repeat)
    layers = [_Layer(path=(), doc=doc)]
    data = _apply_cli(data, layers, cli)
    cfg = _default_name(_validate(data, layers), doc.file)
    applied = {dotted: value for dotted, _path, value, _pos in cli}
    if repeat is None or repeat == 1:
        return [PlannedRun(cfg.name or "run", cfg, doc.file, None, applied, seed=cfg.seed)]
    base_name = cfg.name or "run"
    runs = []
    for r in range(repeat):
        run_cfg = cfg.model_copy(deep=True)
        try:
            run_cfg.seed = cfg.seed + r
        except ValidationError as exc:
            seed_layer = _Layer(path=("seed",), doc=doc, offset=("seed",), label=f"repeat {repeat}")
            raise _from_validation(exc, ExperimentConfig, [*layers, seed_layer]) from None
        name = f"{base_name[: NAME_MAX_LEN - 12]}-s{run_cfg.seed}"
        run_cfg.name = name
        seed_applied = {k: v for k, v in applied.items() if k != "seed"}
        seed_applied["seed"] = run_cfg.seed
        runs.append(
            PlannedRun(name, run_cfg, doc.file, None, seed_applied, variant=base_name, seed=run_cfg.seed)
        )
    return runs
