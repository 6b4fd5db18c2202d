#!/usr/bin/env bash
# One prepared GPU check (issue 12) for a lent H100/H200 machine that has torch (under 10 minutes).
#
#   bash bench/gpu_check.sh --data-dir DIR [--budget-s 540] [--tiny]
#
# DIR holds cifar10/cifar10-jpeg.tar.gz (or any layout trainers.data accepts). Results go to
# $OUT (a temp folder when $OUT is unset): results.jsonl (every measurement), summary.txt, log.txt.
# Python: python3 with torch, numpy, pillow, pyyaml, psutil; pydantic (+ pydantic_core,
# annotated_types, typing_inspection) is installed from ./.whl/*.whl when it is missing. Fetch them
# beforehand on a machine with the index, for the GPU machine's Python (here 3.11), e.g.
#   pip download --only-binary=:all: --no-deps --python-version 3.11 -d .whl \
#       pydantic pydantic_core annotated_types typing_inspection
# (.whl/ is git-ignored: name it in the device tool's carry list). The whole-set section runs the
# real `hw2-tui sweep` (python -m hw2.cli): it needs nothing beyond these.
#
# Sections, each time-boxed with `timeout` (and its own internal deadline), run in this order:
#   warm     decode CIFAR-10 into the cache                                          (box  60 s)
#   epochs   base CNN eager vs captured (perf.capture) at the default batch and 4;   (box 100 s)
#            captured with host data
#   knobs    deeper and regularised nets eager vs captured; bf16, channels_last,    (box 110 s)
#            torch.compile (deeper net)
#   mlp      the MLP per Keras backend (bench/bench_mlp.py), only where TensorFlow   (box  90 s)
#            is installed: a line says it was skipped otherwise
#   pack     1, 2, 4, 8 real trainer subprocesses at once: runs/hour                (box  80 s)
#   homework every shipped study through `hw2-tui sweep` (bench/bench_homework.py),  (box: the rest)
#            1 epoch per run, 8, 4, 2 then 1 runs per GPU while the box lasts
# Boxes shrink to fit --budget-s (default 540 s: under 10 minutes with start-up); a slow section
# can't eat the next one's time. --tiny is the CPU dry run: 2 000-image subset, 1 epoch; knobs: the
# eager/captured pairs and bf16+channels_last only, compile skipped; packing 2 and 1; the whole set:
# the CNN studies only.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)

DATA_DIR=""
BUDGET=540
TINY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --data-dir) DATA_DIR="$2"; shift 2 ;;
    --budget-s) BUDGET="$2"; shift 2 ;;
    --tiny|--dry-run) TINY="--tiny"; shift ;;
    *) echo "gpu_check.sh: unknown argument $1; usage: bash bench/gpu_check.sh --data-dir DIR [--budget-s S] [--tiny]" >&2; exit 2 ;;
  esac
done
[ -n "$DATA_DIR" ] || { echo "gpu_check.sh: --data-dir DIR is required (folder holding cifar10/)" >&2; exit 2; }
DATA_DIR=$(cd "$DATA_DIR" && pwd) || { echo "gpu_check.sh: no such folder: $DATA_DIR" >&2; exit 2; }
OUT=${OUT:-$(mktemp -d /tmp/gpu-check-XXXXXX)}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 HW2_OFFLINE=1
export HW2_CACHE_DIR=${HW2_CACHE_DIR:-/tmp/hw2-cache}

exec > >(tee -a "$OUT/log.txt") 2>&1
START=$(date +%s)
echo "gpu_check: $(date -u +%FT%TZ) root=$ROOT data=$DATA_DIR out=$OUT budget=${BUDGET}s ${TINY}"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version,utilization.gpu --format=csv,noheader

if ! "$PY" -c "import pydantic" 2>/dev/null; then
  if ls .whl/*.whl >/dev/null 2>&1; then
    echo "installing pydantic from .whl/ into /tmp/site"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  else
    echo "gpu_check.sh: pydantic is missing and there are no wheels in .whl/" >&2; exit 3
  fi
fi
export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}
"$PY" -c "import torch, pydantic, yaml, numpy, PIL, psutil; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'pydantic', pydantic.VERSION)" || exit 3

# section NAME BOX_SECONDS [extra args]: run one section under a hard time box that also fits
# what is left of the budget (keeping 25 s for the ones after it and the summary).
section() {
  local name=$1 box=$2; shift 2
  local now left
  now=$(date +%s); left=$(( BUDGET - (now - START) - 15 ))
  [ "$box" -gt "$left" ] && box=$left
  if [ "$box" -lt 10 ]; then echo "== $name: skipped, budget spent"; return; fi
  echo "== $name (time box ${box}s)"
  timeout -k 10 "$box" "$PY" bench/gpu_bench.py "$name" --data-dir "$DATA_DIR" --out "$OUT" \
    --budget-s "$((box - 5))" $TINY "$@"
  local rc=$?
  [ $rc -ne 0 ] && echo "== $name: exit $rc$([ $rc -eq 124 ] && echo ' (time box)')"
  return 0
}

section warm 60
section epochs 100
section knobs 110
section mlp 90
section pack 80
section homework 400  # whatever is left of the budget
"$PY" bench/gpu_bench.py summary --out "$OUT" $TINY
echo "gpu_check: total $(( $(date +%s) - START ))s; files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
exec >&- 2>&-  # close the tee pipe so its last lines reach log.txt before exit
wait
