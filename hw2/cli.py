"""``hw2-tui``: the headless command line (and, with no command, the TUI).

Why a CLI beside the TUI: on a remote GPU box you often want to queue a sweep over SSH, log out,
and come back later; every command works without a terminal UI and exits with a meaningful code.
The CLI never imports a training framework (trainers run as subprocesses); the TUI is imported
lazily only when no command is given.

Exit codes: 0 success; 1 a run failed or an operation could not be done; 2 usage or config
error; 130 a run was killed (or following was interrupted with Ctrl-C).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from hw2 import contract
from hw2.env import env_int

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_KILLED = 0, 1, 2, 130
PROG = "hw2-tui"


class CliError(Exception):
    """A one-line message for the user and an exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # usage + one line, exit 2 (argparse's contract)
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("hw2-tui")
    except Exception:
        return "0.1.0"


class _VersionAction(argparse.Action):
    """``--version``, read from the package metadata only when asked: ``importlib.metadata``
    (with the email and zip modules it loads) costs ~30 ms of every start otherwise."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kw: Any) -> None:
        kw.setdefault("help", "show the version and exit")
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, **kw)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(f"{PROG} {_version()}")
        parser.exit()


def _domain_errors() -> tuple[type[BaseException], ...]:
    """The project's own error types that a command may raise, for ``main``'s ``except``.

    Looked up when an exception is being handled, among the modules already loaded: a module that
    is not loaded cannot have raised, and importing hw2.queue/hw2.launch (and YAML with them) up
    front would cost the TUI ~60 ms of its cold start.
    """
    found: list[type[BaseException]] = [contract.ContractError]
    for module, name in (
        ("hw2.launch", "LaunchError"),
        ("hw2.queue", "QueueError"),
        ("hw2.executors", "ExecutorError"),
        ("hw2.trash", "TrashError"),
    ):
        loaded = sys.modules.get(module)
        if loaded is not None:
            found.append(getattr(loaded, name))
    return tuple(found)


# --------------------------------------------------------------------------- helpers


def _runs_dir(args: argparse.Namespace) -> Path:
    return Path(args.runs_dir) if getattr(args, "runs_dir", None) else contract.default_runs_dir()


def _configs_dir(args: argparse.Namespace) -> Path:
    return Path(getattr(args, "configs_dir", None) or "configs")


def _resolve_config(args: argparse.Namespace, name: str) -> Path:
    """A config file given as a path, or a name inside the configs dir (with or without .yaml)."""
    candidates = [Path(name)]
    cdir = _configs_dir(args)
    candidates += [cdir / name, cdir / f"{name}.yaml", cdir / f"{name}.yml"]
    for c in candidates:
        if c.is_file():
            return c
    raise CliError(
        f"{name}: no such config file (also looked in {cdir}/); fix: give a path to a .yaml file", EXIT_USAGE
    )


def _plan(args: argparse.Namespace, name: str) -> list[Any]:
    from hw2.config import ConfigError, expand_study

    path = _resolve_config(args, name)
    try:
        return expand_study(path, list(args.set or []), repeat=getattr(args, "repeat", None))
    except ConfigError as exc:
        raise CliError(str(exc), EXIT_USAGE) from exc


def _data_dir(args: argparse.Namespace) -> str | None:
    d = getattr(args, "data_dir", None)
    return str(Path(d).resolve()) if d else None


def _find_run(runs_dir: Path, ref: str) -> str:
    """A run id from an exact id or a unique part of one (e.g. its last 4 hex digits)."""
    ids = [p.name for p in contract.list_run_dirs(runs_dir)]
    if ref in ids:
        return ref
    matches = [i for i in ids if ref in i]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise CliError(f"no run matching {ref!r} in {runs_dir}; fix: see `{PROG} ls`")
    raise CliError(
        f"{ref!r} matches {len(matches)} runs ({', '.join(matches[:3])}, ...); give more of the id"
    )


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # Piped output (ssh host hw2-tui ls | less, logs) gets full-width rows instead of 80 columns.
    width = None if stream.isatty() else env_int("COLUMNS", 200, minimum=20)
    return Console(stderr=stderr, highlight=False, width=width)


def _exit_for(status: str) -> int:
    return {"done": EXIT_OK, "killed": EXIT_KILLED}.get(status, EXIT_FAILED)


# --------------------------------------------------------------------------- run (foreground)


def _progress() -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=_console(),
    )


def cmd_run(args: argparse.Namespace) -> int:
    from hw2 import executors, launch, queue
    from hw2.runs.readers import load_run
    from hw2.runs.summary import EpochStats, fmt_duration, fmt_float, fold_lines
    from hw2.tail import MetricsTailer

    planned = _plan(args, args.config)
    if len(planned) != 1:
        raise CliError(
            f"{args.config} is a study with {len(planned)} runs; fix: use `{PROG} sweep {args.config}`",
            EXIT_USAGE,
        )
    runs_dir = _runs_dir(args)
    executor, settings = _executor(args, planned[0])
    if args.detach or not executor.foreground:
        sub = executors.launch(runs_dir, planned, executor, settings, data_dir=_data_dir(args))
        _said(sub)
        for run_id in sub.run_ids:
            print(run_id)
        return EXIT_OK

    queue._writable_runs_dir(runs_dir)
    with launch.queue_lock(runs_dir):
        run_id = queue.create_run(runs_dir, planned[0], data_dir=_data_dir(args), extra={"foreground": True})
        path = contract.run_path(runs_dir, run_id)
        meta = contract.read_meta(path)
        assert meta is not None
        proc = launch.start_trainer(path, meta, cuda_visible_devices=None, launched_by="cli", cwd=os.getcwd())
    # the start time recorded at launch: read again at Ctrl-C, it is that of whoever has the pid then
    launched = contract.read_meta(path)
    create_time = launched.pid_create_time if launched is not None else None
    console = _console()
    console.print(f"run {run_id} (pid {proc.pid}); log: {path / contract.LOG_FILE}")

    interrupts = 0

    def on_signal(signum: int, _frame: Any) -> None:
        nonlocal interrupts
        interrupts += 1
        sig = signal.SIGTERM if interrupts == 1 else signal.SIGKILL
        launch.signal_group(proc.pid, create_time, sig)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    tailer = MetricsTailer(path / contract.METRICS_FILE)
    epochs = planned[0].cfg.train.epochs
    stats, seen, shown = EpochStats(), [], 0
    progress_line: Any = None
    try:
        with _progress() as progress:
            ep_task = progress.add_task("epochs ", total=epochs, info="")
            b_task = progress.add_task("batches", total=None, info="")
            while True:
                rc = proc.poll()
                res = tailer.read_new()
                last = fold_lines(res.lines, stats, seen, progress_line, res.skipped)
                if last is not progress_line and last is not None:
                    progress_line = last
                    loss = last.get("loss")
                    info = f"loss {fmt_float(loss)}" if isinstance(loss, (int, float)) else ""
                    progress.update(b_task, total=last.get("batches"), completed=last.get("batch"), info=info)
                for line in seen[shown:]:
                    g = line.get
                    progress.update(
                        ep_task,
                        completed=g("epoch"),
                        info=f"val_acc {fmt_float(g('val_acc'))}  val_loss {fmt_float(g('val_loss'))}",
                    )
                    progress.console.print(
                        f"epoch {g('epoch')}/{g('epochs', epochs)}  "
                        f"train_loss {fmt_float(g('train_loss'))}  train_acc {fmt_float(g('train_acc'))}  "
                        f"val_loss {fmt_float(g('val_loss'))}  val_acc {fmt_float(g('val_acc'))}"
                    )
                shown = len(seen)
                if rc is not None:
                    break
                time.sleep(0.1)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    launch.finalize_exit(path, proc.returncode)
    view = load_run(path)
    summary = view.summary
    if summary.status == "done" and summary.has_result:
        console.print(
            f"run {run_id} done: test_acc {fmt_float(summary.test_acc)}  "
            f"test_loss {fmt_float(summary.test_loss)}  best_val_acc {fmt_float(summary.best_val_acc)} "
            f"(epoch {summary.best_epoch})  in {fmt_duration(summary.total_seconds)}"
        )
    else:
        print(
            f"{PROG}: run {run_id} {summary.status}: {summary.error or 'no error recorded'} "
            f"(exit code {view.meta.exit_code}; log: {path / contract.LOG_FILE})",
            file=sys.stderr,
        )
    return _exit_for(summary.status)


# --------------------------------------------------------------------------- sweep


NOTIFY_CMD_WAIT_S = 10.0
"""How long the CLI waits for ``$HW2_NOTIFY_CMD`` before exiting (it goes on in its own session)."""


def _follow(runs_dir: Path, run_ids: list[str], name: str) -> int:
    """Progress bars for ``run_ids`` until all are final, then one summary line and the bell
    (:func:`_announce`); exit code from the worst outcome."""
    from hw2.runs.readers import load_run
    from hw2.runs.summary import fmt_float
    from hw2.runs.watcher import RunsWatcher

    statuses: dict[str, str] = {}
    interrupted = False

    def on_int(_s: int, _f: Any) -> None:
        nonlocal interrupted
        interrupted = True

    old = signal.signal(signal.SIGINT, on_int)
    began = time.monotonic()
    try:
        with _progress() as progress:
            tasks = {}
            for rid in run_ids:
                tasks[rid] = progress.add_task(rid, total=None, info="queued")
            watcher = RunsWatcher(runs_dir)  # re-reads only what changed between ticks
            while not interrupted:
                watcher.poll()
                for rid in run_ids:
                    s = watcher.summary(rid) or load_run(contract.run_path(runs_dir, rid)).summary
                    statuses[rid] = s.status
                    info = s.status
                    if s.latest is not None and s.latest.val_acc is not None:
                        info += f"  val_acc {fmt_float(s.latest.val_acc)}"
                    if s.status == "done" and s.test_acc is not None:
                        info += f"  test_acc {fmt_float(s.test_acc)}"
                    if s.status in ("failed", "killed") and s.error:
                        info += f"  {s.error[:60]}"
                    progress.update(tasks[rid], total=s.epochs_total, completed=s.epochs_done, info=info)
                if all(s in contract.FINAL_STATUSES for s in statuses.values()):
                    break
                time.sleep(0.5)
    finally:
        signal.signal(signal.SIGINT, old)
    if interrupted:
        print(f"stopped following; the runs go on in the background (see `{PROG} ls`)", file=sys.stderr)
        return EXIT_KILLED
    bad = {rid: s for rid, s in statuses.items() if s != "done"}
    for rid, s in bad.items():
        print(f"{PROG}: run {rid} {s}", file=sys.stderr)
    _announce(name, list(statuses.values()), time.monotonic() - began)
    return EXIT_OK if not bad else EXIT_FAILED


def _announce(name: str, statuses: list[str], seconds: float) -> None:
    """The end of a followed sweep: one line on stdout (``2.1.4 Optimizers: all 6 runs ended · 5
    done, 1 failed · in 12:03``), then the channels ``$HW2_NOTIFY`` leaves on (:mod:`hw2.notify`):
    the bell and the desktop notification, written to the terminal (stderr, else stdout, only
    when one of them is a terminal: never into a log file), and ``$HW2_NOTIFY_CMD``."""
    from hw2 import notify
    from hw2.runs.summary import fmt_duration

    settings = notify.NotifySettings.from_env()
    event = notify.study_ended(name, statuses)
    line = f"{event.text} · in {fmt_duration(seconds)}"
    print(line, flush=True)
    if settings.warning():
        print(f"{PROG}: warning: {settings.warning()}", file=sys.stderr)
    tty = next((f for f in (sys.stderr, sys.stdout) if f.isatty()), None)
    sequence = notify.terminal_sequence(event, settings)
    if tty is not None and sequence:
        tty.write(sequence)
        tty.flush()
    if settings.runs_command and settings.command:
        notify.run_command(settings.command, line, on_error=_warn).join(NOTIFY_CMD_WAIT_S)


def _warn(text: str) -> None:
    print(f"{PROG}: warning: {text}", file=sys.stderr)


def cmd_sweep(args: argparse.Namespace) -> int:
    from hw2 import planning

    planned = _plan(args, args.study)
    runs_dir = _runs_dir(args)
    data_dir = _data_dir(args)
    executor, settings = _executor(args, planned[0])  # a bad executor section fails before any folder
    plan = planning.plan_sweep(runs_dir, planned, force=args.force) if runs_dir.is_dir() else None
    summary = plan.summary() if plan is not None else f"queue {len(planned)}"
    if not args.yes:
        if not sys.stdin.isatty():
            raise CliError(f"{args.study}: {summary}; add --yes to queue them non-interactively", EXIT_USAGE)
        for p in plan.to_queue if plan is not None else planned:
            print(f"  {p.name}")
        answer = input(f"{summary}? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("nothing queued")
            return EXIT_OK
    if args.smoke:
        todo = plan.to_queue if plan is not None else planned
        print(f"smoke test: {len(todo)} config(s), one epoch on a small subset each ...", file=sys.stderr)
        smoke = planning.smoke_test(runs_dir, todo, data_dir=data_dir)
        if not smoke.passed:
            for f in smoke.failures:
                print(f"{PROG}: smoke: {f.line()}", file=sys.stderr)
            print(
                f"{PROG}: error: {len(smoke.failures)} of {len(todo)} smoke run(s) failed; nothing queued; "
                + smoke.tidy(runs_dir),
                file=sys.stderr,
            )
            return EXIT_FAILED
        print(f"smoke test passed: {len(todo)} config(s)", file=sys.stderr)
    plan = planning.enqueue_sweep(
        runs_dir, planned, force=args.force, data_dir=data_dir, executor=executor.name
    )
    print(plan.summary(), file=sys.stderr)  # stdout stays the new run ids, one a line, for scripts
    if args.smoke:  # the real runs are queued: the passed smoke runs have done their job
        print(smoke.tidy(runs_dir), file=sys.stderr)
    _said(executor.submit(runs_dir, plan.queued, settings))
    for rid in plan.queued:
        print(rid)
    if args.detach or not plan.queued:
        return EXIT_OK
    return _follow(runs_dir, plan.queued, planned[0].study or Path(args.study).stem)


def _executor(args: argparse.Namespace, planned: Any) -> tuple[Any, Any]:
    """(executor, its settings) for launching ``planned``'s file: ``--executor``, else the files'
    ``executor.kind`` (study, base experiment, hw2-slurm.yaml), else local
    (:func:`hw2.executors.resolve_planned`)."""
    from hw2.config import ConfigError
    from hw2.executors import ExecutorError, resolve_planned

    try:
        return resolve_planned(planned, args.executor)
    except (ConfigError, ExecutorError) as exc:
        raise CliError(str(exc), EXIT_USAGE) from exc


def _said(sub: Any) -> None:
    """Say on stderr what an executor's submit did (:class:`hw2.executors.Submitted`)."""
    if sub.message:
        print(sub.message, file=sys.stderr)
    for run_id, why in sub.skipped.items():
        print(f"{PROG}: not submitted: {run_id}: {why}", file=sys.stderr)


# --------------------------------------------------------------------------- ls / export


def cmd_ls(args: argparse.Namespace) -> int:
    from hw2.runs.readers import list_runs
    from hw2.runs.summary import fmt_duration, fmt_float

    now = time.time()
    summaries = list_runs(_runs_dir(args))
    links = contract.symlinked_run_dirs(_runs_dir(args))
    if links:
        print(
            f"{PROG}: skipped {len(links)} symlinked folder(s) in {_runs_dir(args)} (a run folder is never "
            f"a symlink): {', '.join(links)}",
            file=sys.stderr,
        )
    smoke = sum(s.smoke for s in summaries)
    if not args.include_smoke:
        summaries = [s for s in summaries if not s.smoke]
    if args.status:
        summaries = [s for s in summaries if s.status in args.status]
    if args.json:
        print(json.dumps([s.row(now) for s in summaries], indent=2))
        return EXIT_OK
    headers = ["id", "name", "study", "status", "epoch", "val acc", "best val", "test acc", "elapsed"]
    rows = [
        [
            s.run_id,
            s.name,
            s.study or "",
            s.status_text(),
            f"{s.epochs_done}/{s.epochs_total if s.epochs_total is not None else '?'}",
            fmt_float(s.latest.val_acc if s.latest else None),
            fmt_float(s.best_val_acc),
            fmt_float(s.test_acc),
            fmt_duration(s.elapsed(now)),
        ]
        for s in summaries
    ]
    first: list[int] = []
    if any(s.note for s in summaries):  # last, and cut before the names (in full: --json, `note RUN`)
        first.append(len(headers))
        headers.append("note")
        for row, s in zip(rows, summaries, strict=True):
            row.append(s.note or "")
    console = _console()
    hidden = f" ({smoke} smoke run(s) hidden: --include-smoke)" if smoke and not args.include_smoke else ""
    if not summaries:
        console.print(f"no runs in {_runs_dir(args)}{hidden}")
        return EXIT_OK
    from rich.control import strip_control_codes
    from rich.text import Text

    title, head, body = _box_table(
        f"runs in {_runs_dir(args)}{hidden}", headers, rows, console.width, (1, 2), first
    )
    console.print(Text(title, style="italic"), soft_wrap=True)
    console.print(Text(head, style="bold"), soft_wrap=True)
    # The body is plain text: written as one string (Rich's Text of 10 000 lines took 0.3 s), with
    # the control codes Rich would strip stripped here (a study title is the user's text).
    console.file.write(strip_control_codes(body) + "\n")
    console.file.flush()
    return EXIT_OK


def _box_table(
    title: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    width: int,
    cut: Sequence[int] = (),
    cut_first: Sequence[int] = (),
) -> tuple[str, str, str]:
    """``ls``'s table drawn as Rich draws its default table (heavy head box), as text: Rich's own
    renderer measures and pads every cell through its general machinery, ~1 s for 1000 runs.
    Too wide for ``width``: the widest of the ``cut_first`` columns (a note), then of the ``cut``
    columns, loses a character (ending in ``…``), until it fits or they are 4 wide; figures and ids
    are never cut (the line may then wrap).
    Returns (title line, header lines, body lines)."""
    from rich.cells import cell_len

    widths = [max(cell_len(h), *(cell_len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    while sum(widths) + 3 * len(widths) + 1 > width:
        cuttable = [i for i in cut_first if widths[i] > 4] or [i for i in cut if widths[i] > 4]
        if not cuttable:
            break
        widest = max(cuttable, key=lambda i: widths[i])
        widths[widest] -= 1

    def cell(text: str, w: int) -> str:
        n = cell_len(text)
        if n > w:
            text = text[: max(0, w - 1)] + "…"
            n = cell_len(text)
        return " " + text + " " * (w - n) + " "

    def line(left: str, fill: str, mid: str, right: str) -> str:
        return left + mid.join(fill * (w + 2) for w in widths) + right

    total = sum(widths) + 3 * len(widths) + 1
    head = "\n".join(
        (
            line("┏", "━", "┳", "┓"),
            "┃" + "┃".join(cell(h, w) for h, w in zip(headers, widths, strict=True)) + "┃",
            line("┡", "━", "╇", "┩"),
        )
    )
    body = [f"│{'│'.join(cell(c, w) for c, w in zip(r, widths, strict=True))}│" for r in rows]
    body.append(line("└", "─", "┴", "┘"))
    return title.center(total).rstrip(), head, "\n".join(body)


def cmd_export(args: argparse.Namespace) -> int:
    from hw2.export import default_export_dir, export_csv

    out = Path(args.out) if args.out else default_export_dir()
    try:
        results, metrics = export_csv(_runs_dir(args), out, include_smoke=args.include_smoke)
    except OSError as exc:  # disk full (no file name on a failed write), not a folder, ...
        where = exc.filename or out
        raise CliError(
            f"cannot write the export to {where}: {exc.strerror or exc}; fix: free disk space or pass another --out"
        ) from exc
    print(results)
    print(metrics)
    return EXIT_OK


# --------------------------------------------------------------------------- report


def _study_files(args: argparse.Namespace) -> list[Path]:
    from hw2.config import discover

    if args.all:
        return [e.path for e in discover(_configs_dir(args)) if e.kind == "study" and e.error is None]
    if not args.study:
        raise CliError(
            "name a study (a YAML file or a name inside the configs dir) or pass --all", EXIT_USAGE
        )
    path = _resolve_config(args, args.study)
    from hw2.config import is_study

    if not is_study(path):
        raise CliError(
            f"{path}: not a study (no 'study:' title); fix: give a file from configs/studies/", EXIT_USAGE
        )
    return [path]


def cmd_report(args: argparse.Namespace) -> int:
    from hw2.analysis.writer import DEFAULT_REPORTS_DIR, study_slug, write_study_report
    from hw2.config import ConfigError

    files = _study_files(args)
    if not files:
        raise CliError(f"no valid study files under {_configs_dir(args)}")
    root = Path(args.out) if args.out else DEFAULT_REPORTS_DIR
    all_written = []
    for study_file in files:
        out = root / study_slug(study_file) if (args.all or not args.out) else root
        try:
            written = write_study_report(_runs_dir(args), study_file, out, include_smoke=args.include_smoke)
        except ConfigError as exc:
            raise CliError(str(exc), EXIT_USAGE) from exc
        except OSError as exc:
            raise CliError(
                f"cannot write the report to {exc.filename or out}: {exc.strerror or exc}; fix: pass another --out"
            ) from exc
        all_written.append(written)
        rep = written.report
        state = "partial: " + "; ".join(rep.missing) if rep.partial else "complete"
        print(f"{written.out_dir / 'report.md'}  ({len(rep.groups)} variant(s), {state})", flush=True)
    if args.all:
        return _homework(all_written, root)
    return EXIT_OK


def _homework(written: list[Any], root: Path) -> int:
    """``report --all``: the whole homework as ``ROOT/homework2.tex``, and its PDF when pdflatex is here."""
    from hw2.analysis.document import CompileError, compile_pdf, how_to_compile, pdflatex, write_homework

    try:
        tex = write_homework(written, root)
    except OSError as exc:
        raise CliError(
            f"cannot write the homework to {exc.filename or root}: {exc.strerror or exc}; fix: pass another --out"
        ) from exc
    print(f"{tex}  (the whole homework: {len(written)} question(s))", flush=True)
    exe = pdflatex()
    if exe is None:
        print(how_to_compile(tex))
        return EXIT_OK
    try:
        pdf = compile_pdf(tex, exe, say=lambda line: print(line, flush=True))
    except CompileError as exc:
        raise CliError(str(exc)) from exc
    print(pdf)
    return EXIT_OK


# --------------------------------------------------------------------------- kill / requeue


def cmd_kill(args: argparse.Namespace) -> int:
    from hw2 import executors, launch

    runs_dir = _runs_dir(args)
    run_id = _find_run(runs_dir, args.run_id)
    before = _meta_of(runs_dir, run_id)
    if executors.of_run(before).kill(runs_dir, run_id):
        if before is not None and before.status == "queued":
            print(f"{run_id}: killed (was queued)")
        else:
            print(f"{run_id}: sent SIGTERM (SIGKILL after {launch.kill_grace():g}s if still alive)")
        return EXIT_OK
    status = before.status if before else "unknown"
    raise CliError(f"{run_id}: not running (status {status}); nothing to kill")


def cmd_rm(args: argparse.Namespace) -> int:
    from hw2 import trash
    from hw2.runs.summary import fmt_bytes

    runs_dir = _runs_dir(args)
    if not (args.runs or args.smoke or args.failed or args.study or args.older_than):
        raise CliError(
            "name the runs to remove, or select them: --smoke, --failed, --study, --older-than", EXIT_USAGE
        )
    named = (
        [contract.run_path(runs_dir, _find_run(runs_dir, ref)) for ref in args.runs] if args.runs else None
    )
    study = args.study
    if study:  # a study file (path or name in the configs dir), else taken as the study's title
        with contextlib.suppress(CliError):
            study = str(_resolve_config(args, study))
    age = trash.parse_age(args.older_than) if args.older_than else None
    chosen = trash.select(
        runs_dir, named, smoke=args.smoke, failed=args.failed, study=study, older_than_s=age
    )
    movable, refused = trash.movable(chosen)
    for line in refused:
        print(f"{PROG}: error: {line}", file=sys.stderr)
    if not movable:
        if refused:
            return EXIT_FAILED
        print(f"no runs to remove in {runs_dir}")
        return EXIT_OK
    sizes = {p: trash.folder_size(p) for p in movable}
    n, total = len(movable), fmt_bytes(sum(sizes.values()))
    what = f"Move {n} run{'s' if n != 1 else ''} ({total}) to {runs_dir / trash.TRASH_DIR}"
    if not args.yes:
        if not sys.stdin.isatty():
            raise CliError(f"{what}; add --yes to move them non-interactively", EXIT_USAGE)
        for p in movable:
            print(f"  {p.name}  {fmt_bytes(sizes[p])}")
        if input(f"{what}? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing moved")
            return EXIT_OK
    done = trash.remove(runs_dir, movable)
    for r in done.removed:
        print(f"moved {r.run_id}  {fmt_bytes(r.size_bytes)}")
    for line in done.refused:
        print(f"{PROG}: error: {line}", file=sys.stderr)
    print(f"moved {len(done.removed)} run(s), {fmt_bytes(done.size_bytes)}, to {runs_dir / trash.TRASH_DIR}")
    return EXIT_OK if done.removed else EXIT_FAILED


def cmd_restore(args: argparse.Namespace) -> int:
    from hw2 import trash
    from hw2.runs.summary import fmt_bytes

    back = trash.restore(_runs_dir(args), args.run_id)
    print(f"restored {back.run_id}  {fmt_bytes(back.size_bytes)}")
    return EXIT_OK


def cmd_gc(args: argparse.Namespace) -> int:
    from hw2 import trash
    from hw2.runs.summary import fmt_bytes

    runs_dir = _runs_dir(args)
    age = trash.parse_age(args.older_than) if args.older_than else None
    gone = trash.gc(runs_dir, dry_run=args.dry_run, older_than_s=age)
    verb = "would free" if args.dry_run else "freed"
    for t in gone:
        print(f"{'would delete' if args.dry_run else 'deleted'} {t.name}  {fmt_bytes(t.size_bytes)}")
    print(
        f"{verb} {fmt_bytes(sum(t.size_bytes for t in gone))} ({len(gone)} run(s)) in {runs_dir / trash.TRASH_DIR}"
    )
    return EXIT_OK


def cmd_resume(args: argparse.Namespace) -> int:
    from hw2 import executors

    runs_dir = _runs_dir(args)
    run_id = _find_run(runs_dir, args.run_id)
    print(executors.of_run(_meta_of(runs_dir, run_id)).resume(runs_dir, run_id, force=args.force))
    return EXIT_OK


def cmd_note(args: argparse.Namespace) -> int:
    """Set, clear (``--clear`` or an empty text) or, without a text, print a run's note."""
    from hw2.runs import lifecycle

    runs_dir = _runs_dir(args)
    run_id = _find_run(runs_dir, args.run_id)
    if args.clear and args.text is not None:
        raise CliError("give a text or --clear, not both", EXIT_USAGE)
    if args.text is None and not args.clear:
        note = _meta_of(runs_dir, run_id).extra.get("note")
        if note:
            print(str(note))
        else:
            print(f"{run_id}: no note", file=sys.stderr)
        return EXIT_OK
    meta = lifecycle.set_note(contract.run_path(runs_dir, run_id), "" if args.clear else args.text)
    note = meta.extra.get("note")
    print(f"{run_id}: note {'set: ' + note if note else 'cleared'}")
    return EXIT_OK


def _meta_of(runs_dir: Path, run_id: str) -> contract.RunMeta:
    path = contract.run_path(runs_dir, run_id)
    meta = contract.read_meta(path)
    if meta is None:
        raise CliError(
            f"{path / contract.META_FILE}: missing or unreadable; fix: delete the run folder or restore it"
        )
    return meta


def cmd_requeue(args: argparse.Namespace) -> int:
    from hw2 import executors, sweep

    runs_dir = _runs_dir(args)
    if args.fresh and not args.failed:
        raise CliError("--fresh goes with --failed; fix: requeue --failed --fresh [STUDY]", EXIT_USAGE)
    if args.failed:
        study = args.target
        if study:  # a study file (path or name in the configs dir), else taken as the study's title
            with contextlib.suppress(CliError):
                study = str(_resolve_config(args, study))
        done = sweep.requeue_failed(runs_dir, study, fresh=args.fresh)
        for rid in done.requeued:
            print(rid)
        for rid in done.resumed:
            print(f"{rid} (resumed)")
        of = f" of {args.target}" if args.target else ""
        print(
            f"requeued {len(done.requeued)} and resumed {len(done.resumed)} failed or killed run(s){of}"
            + "".join(f"\n{line}" for line in done.refused)
        )
        return EXIT_OK
    if not args.target:
        raise CliError("name the run to requeue (or pass --failed [STUDY])", EXIT_USAGE)
    run_id = _find_run(runs_dir, args.target)
    new_id = executors.of_run(_meta_of(runs_dir, run_id)).requeue(runs_dir, run_id)
    print(new_id)
    return EXIT_OK


# --------------------------------------------------------------------------- validate / data


def cmd_validate(args: argparse.Namespace) -> int:
    from hw2.config import ConfigError, discover, expand_study

    paths = [Path(p) for p in args.paths] or [_configs_dir(args)]
    errors = 0
    checked = 0
    for path in paths:
        if path.is_dir():
            for entry in discover(path):
                checked += 1
                if entry.error is not None:
                    errors += 1
                    print(str(entry.error))
                else:
                    print(f"ok: {entry.path} ({len(entry.runs)} run{'s' if len(entry.runs) != 1 else ''})")
        elif path.is_file():
            checked += 1
            try:
                runs = expand_study(path)
            except ConfigError as exc:
                errors += 1
                print(str(exc))
            else:
                print(f"ok: {path} ({len(runs)} run{'s' if len(runs) != 1 else ''})")
        else:
            errors += 1
            print(f"{path}: no such file or directory")
    print(f"{checked} file(s) checked, {errors} error(s)", file=sys.stderr)
    return EXIT_OK if errors == 0 else EXIT_FAILED


def cmd_data(args: argparse.Namespace) -> int:
    cmd = [sys.executable, "-m", "trainers.data", args.data_cmd]
    try:
        return subprocess.run(cmd, check=False).returncode
    except OSError as exc:
        raise CliError(f"could not run {' '.join(cmd)}: {exc}") from exc


# --------------------------------------------------------------------------- scheduler


def cmd_scheduler(args: argparse.Namespace) -> int:
    from hw2 import daemon
    from hw2.runs.readers import list_runs

    runs_dir = _runs_dir(args)
    if args.action == "start":
        daemon.ensure_scheduler(runs_dir)
    elif args.action == "stop":
        if daemon.stop_scheduler(runs_dir):
            print("scheduler stopped (running trainers keep running)")
        else:
            print("no scheduler running")
        return EXIT_OK
    counts: dict[str, int] = {}
    for s in list_runs(runs_dir) if runs_dir.is_dir() else []:
        counts[s.status] = counts.get(s.status, 0) + 1
    summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("queued", "running"))
    info = daemon.scheduler_info(runs_dir) if runs_dir.is_dir() else None
    if info:
        where = f"{info.get('gpus')} GPU x {info.get('slots_per_gpu')}" if info.get("gpus") else "CPU"
        print(f"scheduler: running (pid {info.get('pid')}, {info.get('slots')} slot(s), {where}); {summary}")
    else:
        print(f"scheduler: not running; {summary}")
        if args.action == "start":
            print("(it exits by itself when nothing is queued)")
    return EXIT_OK


# --------------------------------------------------------------------------- TUI


def open_tui(args: argparse.Namespace) -> int:
    try:
        from tui.app import run_app
    except ImportError as exc:
        raise CliError(
            f"the TUI is not available ({exc}); use a command instead, see `{PROG} --help`"
        ) from exc
    result = run_app(runs_dir=_runs_dir(args), configs_dir=_configs_dir(args))
    return int(result) if isinstance(result, int) else EXIT_OK


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    from hw2.executors import names as executor_names  # the registry: local, slurm, ...

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--runs-dir", default=argparse.SUPPRESS, help="runs folder (default: $HW2_RUNS_DIR or ./runs)"
    )
    common.add_argument(
        "--configs-dir", default=argparse.SUPPRESS, help="configs folder (default: ./configs)"
    )
    common.add_argument(
        "--data-dir", default=argparse.SUPPRESS, help="dataset folder, exported to trainers as HW2_DATA_DIR"
    )
    p = _Parser(
        prog=PROG,
        parents=[common],
        description="Run, queue, watch and export the homework-2 experiments. "
        "Without a command, opens the terminal UI.",
    )
    p.add_argument("--version", action=_VersionAction)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], help=help_text, description=help_text)

    r = add("run", "Run one experiment: in the foreground with a progress bar, or queued with --detach.")
    r.add_argument("config", help="experiment YAML (a path, or a name inside the configs dir)")
    r.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override a field, e.g. optimizer.lr=0.1"
    )
    r.add_argument(
        "--detach", action="store_true", help="queue it for the scheduler, print the run id, return"
    )
    r.add_argument(
        "--executor",
        choices=executor_names(),
        help="local: this box; slurm: submit it as one Slurm job and return (settings: executor: in the "
        "file or hw2-slurm.yaml; default: their executor.kind, else local)",
    )
    r.set_defaults(func=cmd_run)

    s = add("sweep", "Queue every run of a study (or one experiment) and follow them until they finish.")
    s.add_argument("study", help="study YAML (a path, or a name inside the configs dir)")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a field in every run")
    s.add_argument("--detach", action="store_true", help="queue, print the run ids and return at once")
    s.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    s.add_argument(
        "--executor",
        choices=executor_names(),
        help="local: this box's scheduler; slurm: one job array (settings: executor: in the study, its "
        "base or hw2-slurm.yaml; default: their executor.kind, else local)",
    )
    s.add_argument(
        "--repeat",
        type=int,
        metavar="N",
        help="N seeds per variant (seed..seed+N-1), instead of the study's repeat",
    )
    s.add_argument(
        "--force", action="store_true", help="queue every run, even those with a done, queued or running twin"
    )
    s.add_argument(
        "--smoke",
        action="store_true",
        help="first run every config for one epoch on a small subset; queue nothing if one fails",
    )
    s.set_defaults(func=cmd_sweep)

    ls = add("ls", "List runs: status, epoch, accuracies, elapsed time.")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.add_argument("--status", action="append", choices=contract.STATUSES, help="only runs with this status")
    ls.add_argument(
        "--include-smoke",
        action="store_true",
        help="list smoke runs (sweep --smoke; hidden by default, their status ends in '· smoke')",
    )
    ls.set_defaults(func=cmd_ls)

    e = add("export", "Write results.csv (one row per run) and metrics.csv (one row per epoch).")
    e.add_argument("--out", help="output folder (default: $HW2_EXPORT_DIR or ./exports)")
    e.add_argument("--include-smoke", action="store_true", help="export smoke runs (sweep --smoke) too")
    e.set_defaults(func=cmd_export)

    rp = add(
        "report",
        "Write a study's answer: figures (PNG, PDF), report.md, report.tex, runs.csv, metrics.csv, "
        "environment.md and conclusion.md (yours, never overwritten) under reports/<study>/; with --all, "
        "also the whole homework as reports/homework2.tex (and .pdf when pdflatex is installed).",
    )
    rp.add_argument("study", nargs="?", help="study YAML (a path, or a name inside the configs dir)")
    rp.add_argument(
        "--all",
        action="store_true",
        help="every study under the configs dir, and the whole homework: homework2.tex (and .pdf)",
    )
    rp.add_argument(
        "--out",
        help="output folder (default: reports/<study>/; with --all, the parent of one folder per study)",
    )
    rp.add_argument("--include-smoke", action="store_true", help="count smoke runs (sweep --smoke) too")
    rp.set_defaults(func=cmd_report)

    k = add("kill", "Stop a run: a queued run is cancelled, a running one gets SIGTERM (then SIGKILL).")
    k.add_argument("run_id", help="run id, or a unique part of it")
    k.set_defaults(func=cmd_kill)

    rm = add(
        "rm",
        "Move runs to <runs>/.trash (restore brings one back, gc empties it): the RUNs named and/or "
        "those the selectors pick (all of them must match); queued or running runs are refused.",
    )
    rm.add_argument("runs", nargs="*", metavar="RUN", help="run id, or a unique part of it")
    rm.add_argument("--smoke", action="store_true", help="smoke runs (sweep --smoke)")
    rm.add_argument("--failed", action="store_true", help="failed or killed runs")
    rm.add_argument("--study", metavar="STUDY", help="runs of a study (its YAML file or its title)")
    rm.add_argument("--older-than", metavar="AGE", help="runs created longer ago than AGE: 30d, 12h, 2w")
    rm.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    rm.set_defaults(func=cmd_rm)

    rt = add("restore", "Put a run moved by rm back in the runs folder, as it was.")
    rt.add_argument("run_id", help="run id (or a unique part of it), or its name in .trash")
    rt.set_defaults(func=cmd_restore)

    g = add("gc", "Empty the trash (<runs>/.trash): delete the runs rm moved there.")
    g.add_argument("--dry-run", action="store_true", help="say what it would free; delete nothing")
    g.add_argument("--older-than", metavar="AGE", help="only runs moved there longer ago than AGE: 30d, 12h")
    g.set_defaults(func=cmd_gc)

    q = add(
        "requeue",
        "Queue a new run with the same config as an earlier run, or with --failed every failed or killed "
        "run (of a study) that has no done, queued or running twin.",
    )
    q.add_argument(
        "target", nargs="?", help="run id (or a unique part of it); with --failed, a study (optional)"
    )
    q.add_argument(
        "--failed",
        action="store_true",
        help="every failed or killed run (of STUDY): resumed from its checkpoint when it has one, else requeued",
    )
    q.add_argument(
        "--fresh", action="store_true", help="with --failed: requeue (a new run) even runs that could resume"
    )
    q.set_defaults(func=cmd_requeue)

    rs = add(
        "resume",
        "Continue a failed or killed run in its own folder from its last checkpoint (attempt + 1); "
        "refused when its config.yaml or the trainers' code changed since, unless --force.",
    )
    rs.add_argument("run_id", help="run id, or a unique part of it")
    rs.add_argument(
        "--force", action="store_true", help="resume even if its config or the trainers' code changed"
    )
    rs.set_defaults(func=cmd_resume)

    n = add(
        "note",
        "Attach a one-line note to a run (any status), shown by ls, the TUI and the export; without a "
        "text, print the run's note.",
    )
    n.add_argument("run_id", help="run id, or a unique part of it")
    n.add_argument("text", nargs="?", help="the note (at most 500 characters; an empty text clears it)")
    n.add_argument("--clear", action="store_true", help="remove the run's note")
    n.set_defaults(func=cmd_note)

    v = add("validate", "Check config files; prints one line per error, non-zero exit if any.")
    v.add_argument("paths", nargs="*", help="files or folders (default: the configs dir)")
    v.set_defaults(func=cmd_validate)

    d = add("data", "Dataset helpers (runs python -m trainers.data).")
    d.add_argument("data_cmd", choices=["check"], help="check: find and verify MNIST and CIFAR-10")
    d.set_defaults(func=cmd_data)

    sc = add("scheduler", "Show, start or stop the background scheduler that launches queued runs.")
    sc.add_argument("action", choices=["status", "start", "stop"], nargs="?", default="status")
    sc.set_defaults(func=cmd_scheduler)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if getattr(args, "data_dir", None):
        os.environ["HW2_DATA_DIR"] = str(Path(args.data_dir).resolve())
    try:
        func = getattr(args, "func", None)
        return func(args) if func else open_tui(args)
    except CliError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.code
    except _domain_errors() as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        with contextlib.suppress(Exception):
            sys.stderr.close()
        return EXIT_FAILED
    except PermissionError as exc:
        print(f"{PROG}: error: permission denied: {exc.filename or exc}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:
        print(f"{PROG}: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_KILLED


if __name__ == "__main__":
    raise SystemExit(main())
