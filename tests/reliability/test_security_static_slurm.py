"""Security rules for what reaches Slurm, checked on the source itself (issue 19, beyond the list):

* every command line that runs a Slurm command is an argv list built in one module,
  ``hw2/slurm/commands.py`` (no other module names ``sbatch``, ``squeue``, ... as a command, and no
  other module of ``hw2/slurm`` imports ``subprocess``);
* no path is formatted into the job script's text: ``#SBATCH`` lines are written only in
  ``hw2/slurm/submit.py``, and none of their formatted values is a path (the working directory and
  the output file go to ``sbatch`` as argv items; run folders are shell-quoted data lines).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT
from tests.reliability.test_security_static import _sources

SLURM_COMMANDS = frozenset(
    {"sbatch", "squeue", "scontrol", "scancel", "sacct", "sinfo", "srun", "salloc", "sstat"}
)
ARGV_MODULE = "hw2/slurm/commands.py"
SCRIPT_MODULE = "hw2/slurm/submit.py"
PATHLIKE = ("dir", "path", "cwd", "executable", "out", "file", "home", "getcwd")


def _violations(path: Path, rel: str) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        where = f"{rel}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.List | ast.Tuple) and node.elts:
            first = node.elts[0]
            if isinstance(first, ast.Constant) and first.value in SLURM_COMMANDS and rel != ARGV_MODULE:
                found.append(f"{where}: a {first.value} command line outside {ARGV_MODULE}")
        if (
            isinstance(node, ast.Import | ast.ImportFrom)
            and rel.startswith("hw2/slurm/")
            and rel != ARGV_MODULE
        ):
            names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
            if "subprocess" in names:
                found.append(f"{where}: subprocess in hw2/slurm outside {ARGV_MODULE}")
        if isinstance(node, ast.JoinedStr):
            text = "".join(
                v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)
            )
            if "#SBATCH" not in text:
                continue
            if rel != SCRIPT_MODULE:
                found.append(f"{where}: an #SBATCH line written outside {SCRIPT_MODULE}")
            for value in node.values:
                if isinstance(value, ast.FormattedValue):
                    src = ast.unparse(value.value).lower()
                    if any(word in src for word in PATHLIKE):
                        found.append(
                            f"{where}: a path ({ast.unparse(value.value)}) formatted into an #SBATCH line"
                        )
    return found


def _rel(path: Path) -> str:
    return path.relative_to(PROJECT_ROOT).as_posix()


@pytest.mark.parametrize("path", _sources(), ids=_rel)
def test_slurm_argv_in_one_module_and_no_path_in_script_text(path: Path) -> None:
    assert _violations(path, _rel(path)) == []


def test_the_one_module_does_run_slurm() -> None:
    text = (PROJECT_ROOT / ARGV_MODULE).read_text()
    assert '["sbatch", "--parsable"]' in text and '"squeue"' in text  # the rule has something to hold


def test_checker_catches_each_pattern(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import subprocess\n"
        "subprocess.run(['scontrol', 'requeue', job])\n"
        "line = f'#SBATCH --output={output_dir}/x.out'\n"
        "other = f'#SBATCH --chdir={os.getcwd()}'\n"
    )
    found = _violations(bad, "hw2/slurm/bad.py")
    assert len(found) == 6, found  # subprocess import, scontrol argv, two #SBATCH outside, two paths
    assert sorted(_violations(bad, SCRIPT_MODULE)) == [
        f"{SCRIPT_MODULE}:1: subprocess in hw2/slurm outside {ARGV_MODULE}",
        f"{SCRIPT_MODULE}:2: a scontrol command line outside {ARGV_MODULE}",
        f"{SCRIPT_MODULE}:3: a path (output_dir) formatted into an #SBATCH line",
        f"{SCRIPT_MODULE}:4: a path (os.getcwd()) formatted into an #SBATCH line",
    ]
