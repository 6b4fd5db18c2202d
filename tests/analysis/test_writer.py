"""A study's report folder from real run folders (no training): what was actually run, the datasets
in environment.md, and the student's conclusion.md (a placeholder once, never overwritten)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from hw2.analysis.report import StudyInfo, build, latex, markdown
from hw2.analysis.writer import (
    CONCLUSION_FILE,
    ensure_conclusion,
    read_conclusion,
    write_study_report,
)
from tests.analysis.support import fabricate_study, write_study

OPTIMIZERS = {
    "sgd": {"optimizer.name": "sgd", "optimizer.lr": 0.1},
    "adam": {"optimizer.name": "adam", "optimizer.lr": 0.001},
}


@pytest.fixture(autouse=True)
def _here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in tmp_path, so no ./data or ../shared/data of the project is found; no HW2_DATA_DIR."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HW2_DATA_DIR", raising=False)


def test_the_report_says_what_was_run_not_only_what_the_file_plans(tmp_path: Path) -> None:
    study = write_study(
        tmp_path / "configs", "2.1.4 Optimizers", OPTIMIZERS, epochs=20, description="20 epochs per run."
    )
    runs = tmp_path / "runs"
    fabricate_study(runs, study, overrides=["train.epochs=2"], repeat=2)  # hw2-tui sweep --set train.epochs=2
    out = tmp_path / "reports" / "optimizers"
    w = write_study_report(runs, study, out)
    md = (out / "report.md").read_text(encoding="utf-8")
    as_run = (
        "> **As run:** Epochs actually run (done runs): 2 per run (every variant). Run with settings that "
        "differ from the study file (overrides such as `--set` at launch): train.epochs = 2 in all 4 done "
        "run(s) (the study file: 20). The study's description is the file's plan; the table shows what was run."
    )
    assert as_run in md
    assert md.index("20 epochs per run.") < md.index(as_run) < md.index("| variant")
    tex = (out / "report.tex").read_text(encoding="utf-8")
    assert "\\textbf{As run:} Epochs actually run (done runs): 2 per run (every variant)." in tex
    assert "train.epochs = 2 in all 4 done run(s) (the study file: 20)" in tex
    assert len(w.report.as_run) == 2  # the epochs, the overrides

    # run as the file says: no override sentence; epochs per variant when the variants differ
    runs2 = tmp_path / "runs2"
    study2 = write_study(
        tmp_path / "configs2",
        "2.1.3 Regularisation",
        {"baseline": {}, "early-stopping": {"train.epochs": 5}},
        epochs=3,
    )
    fabricate_study(runs2, study2)
    rep = write_study_report(runs2, study2, tmp_path / "r2").report
    assert rep.as_run == ["Epochs actually run per variant (done runs): baseline 3; early-stopping 5."]


def _data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "mnist").mkdir(parents=True)
    (data / "cifar10").mkdir()
    for name in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (data / "mnist" / name).write_bytes(name.encode())
    (data / "cifar10" / "cifar10-jpeg.tar.gz").write_bytes(b"cifar")
    return data


def test_environment_lists_only_the_datasets_the_runs_used(tmp_path: Path) -> None:
    data = _data(tmp_path)
    configs = tmp_path / "configs"
    mlp = write_study(configs, "2.1.4 Optimizers", OPTIMIZERS, epochs=2, stem="mlp")
    cnn = write_study(
        configs,
        "2.2.3 ReLU",
        {"relu": {"model.name": "base"}, "no-relu": {"model.name": "no_relu"}},
        trainer="cnn",
        model="base",
        epochs=2,
        stem="cnn",
    )
    runs = tmp_path / "runs"
    fabricate_study(runs, mlp, data_dir=data)
    fabricate_study(runs, cnn, data_dir=data)

    env = write_study_report(runs, mlp, tmp_path / "r" / "mlp").environment
    assert env.datasets == ("mnist",)
    assert [Path(f).name for f, _, _ in env.data] == [
        "t10k-labels-idx1-ubyte.gz",
        "train-images-idx3-ubyte.gz",
    ]
    md = (tmp_path / "r" / "mlp" / "environment.md").read_text(encoding="utf-8")
    assert "the runs used (MNIST)" in md and "cifar" not in md
    sha = hashlib.sha256(b"train-images-idx3-ubyte.gz").hexdigest()
    assert f"| `{data / 'mnist' / 'train-images-idx3-ubyte.gz'}` | 26 | `{sha}` |" in md
    assert "host " in md and "git commit 0123abc; keras 3.0.0, python 3.11.2" in md

    env = write_study_report(runs, cnn, tmp_path / "r" / "cnn").environment
    assert env.datasets == ("cifar10",)
    assert [Path(f).name for f, _, _ in env.data] == ["cifar10-jpeg.tar.gz"]
    md = (tmp_path / "r" / "cnn" / "environment.md").read_text(encoding="utf-8")
    assert "(CIFAR-10)" in md and "mnist" not in md and "ubyte" not in md


def test_conclusion_md_is_a_placeholder_once_and_then_the_students(tmp_path: Path) -> None:
    info = StudyInfo("2.1.4 Optimizers: SGD vs Adam")
    out = tmp_path / "reports" / "2.1.4-optimizers"
    path = ensure_conclusion(out, info)
    assert path == out / CONCLUSION_FILE
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == (
        "<!-- hw2-tui: write your conclusion for question 2.1.4 below; this file is never overwritten -->"
    )
    con = read_conclusion(out, info)
    assert not con.written and con.path == "reports/2.1.4-optimizers/conclusion.md"
    rep = build(info, [], conclusion=con)
    assert "*Conclusion not written yet (edit reports/2.1.4-optimizers/conclusion.md).*" in markdown(rep)
    assert "\\textbf{Conclusion not written yet} (edit \\texttt{reports/" in latex(rep)

    # the student writes below the placeholder's sentence (and forgets to delete it): only their text
    path.write_text(path.read_text(encoding="utf-8") + "\nAdam *wins*.\n", encoding="utf-8")
    before = path.read_bytes()
    ensure_conclusion(out, info)  # never overwritten
    assert path.read_bytes() == before
    con = read_conclusion(out, info)
    assert con.written and con.text == "Adam *wins*."
    assert "## Conclusion\n\nAdam *wins*.\n" in markdown(build(info, [], conclusion=con))
    assert "\\subsection*{Conclusion}\nAdam \\emph{wins}.\n" in latex(build(info, [], conclusion=con))


def test_a_variant_run_by_another_study_is_found_by_its_config(tmp_path: Path) -> None:
    """A sweep never runs a twin twice (2.2.2's base net is 2.2.3's relu arm): the second study's
    report finds that run by its config, with the settings both sweeps were launched with applied;
    a run of another config is not taken."""
    import shutil

    from hw2.runs.readers import list_runs

    runs = tmp_path / "runs"
    first = write_study(tmp_path / "s", "1.1 First", {"adam": OPTIMIZERS["adam"]}, epochs=3, stem="first")
    second = write_study(
        tmp_path / "s",
        "1.2 Second",
        {"sgd": OPTIMIZERS["sgd"], "adam": OPTIMIZERS["adam"]},
        epochs=3,
        stem="second",
    )
    fabricate_study(runs, first, overrides=["perf.threads=1"], repeat=2)
    own = fabricate_study(runs, second, overrides=["perf.threads=1"], repeat=2)
    for d in own:  # what the sweep of the second study would not have queued: the adam twins
        if "adam" in d.name:
            shutil.rmtree(d)
    # a run of another config under the first study: lr 0.003 is no twin of the adam arm
    fabricate_study(runs, first, overrides=["perf.threads=1", "optimizer.lr=0.003"], repeat=1)
    assert sorted((s.study, s.variant) for s in list_runs(runs)).count(("1.2 Second", "adam")) == 0

    rep = write_study_report(runs, second, tmp_path / "out").report
    groups = {g.variant: g for g in rep.groups}
    assert set(groups) == {"sgd", "adam"}
    assert len(groups["adam"].runs) == 2 and {r.seed for r in groups["adam"].runs} == {0, 1}
    assert all(r.hparams["optimizer.lr"] == 0.001 for r in groups["adam"].runs)
    assert not rep.partial
