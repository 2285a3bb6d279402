#!/usr/bin/env bash
# The GPU benchmarks of BENCHMARKS.md as one prepared run on a lent device machine (issue 7's targets).
#
#   bash benchmarks/device_check.sh prepare   # here, once: wheels the device image lacks into .whl/,
#                                             # MNIST into .data/ (both ignored by git)
#   bash benchmarks/device_check.sh run       # there: the device tool's run, carry [".whl", ".data"],
#                                             # timeout_s 600; each table lands in $OUT/<name>.txt
#
# The device image has PyTorch, NumPy, pandas, scikit-learn, matplotlib, typer and rich, but not Optuna,
# pydantic, pooch or SQLAlchemy (/work/.library/device/KINDS.md), and ../shared does not travel.
# Each benchmark has its own time limit so that the whole run (575 s) ends inside one 10-minute call.
#
# A rehearsal on a CPU machine (the plumbing, not the timings): DEVICE_CHECK_PYTHON=3.11 for prepare,
# then DEVICE=cpu for run, with a python3 that has only what the device image has.
set -uo pipefail
device="${DEVICE:-cuda}"
cd "$(dirname "$0")/.."

case "${1:-}" in
prepare)
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version "${DEVICE_CHECK_PYTHON:-3.12}" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl optuna==5.0.0 cmaes==0.13.1 SQLAlchemy==2.1.9 alembic==1.20.1 colorlog==6.12.0 Mako==1.4.3 \
    pooch==1.9.0 platformdirs==4.14.9 pydantic==2.14.4 pydantic_core==2.50.5 annotated-types==0.8.0 \
    typing-inspection==0.4.5
  mkdir -p .data && cp -r "${TUNELAB_SHARED_DATA:-../shared/data}/mnist" .data/
  du -sh .whl .data
  ;;
run)
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    .whl/*.whl || exit 1
  export PYTHONPATH="/tmp/site:$PWD/src" PYTHONUNBUFFERED=1
  out="${OUT:-runs/device-check}"
  mkdir -p "$out" && out="$(cd "$out" && pwd)"  # absolute: the benchmarks run from benchmarks/
  if [ "$device" = cuda ]; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/device.txt"
  fi
  cd benchmarks
  bench() {  # name, seconds, script and its arguments
    local name=$1 limit=$2
    shift 2
    echo "== $name (at most ${limit} s)"
    timeout "$limit" python3 "$@" 2>&1 | tee "$out/$name.txt"
    if [ "${PIPESTATUS[0]}" = 124 ]; then echo "(stopped at its ${limit} s limit)" | tee -a "$out/$name.txt"; fi
  }
  # first, the population tests on this device (device auto: CUDA), the captured step's among them
  bench population-tests 45 -m pytest -q -p no:cacheprovider ../tests/train/test_population.py
  bench optimizer-step 20 optimizer_step.py --device "$device"
  bench population 60 population.py --device "$device"
  bench population-mnist 40 population.py --device "$device" --dataset mnist --data-dir ../.data --train-subset 10000
  bench time-to-accuracy 110 time_to_accuracy.py --data-dir ../.data/mnist --device "$device"
  bench time-to-accuracy-captured 50 time_to_accuracy.py --data-dir ../.data/mnist --device "$device" \
    --captured --no-reference
  bench study-000-captured 180 study_000.py --data-dir ../.data --device "$device" \
    --set train.compile=reduce-overhead --no-reference
  bench throughput 30 train_throughput.py --data-dir ../.data/mnist --epochs 3 --device "$device"
  bench study-000 40 study_000.py --data-dir ../.data --device "$device"  # its progress lines give its pace
  ;;
*)
  echo "usage: bash benchmarks/device_check.sh prepare|run" >&2
  exit 2
  ;;
esac
