"""One thread against all usable cores: a training step's wall time by its size, on this CPU.

Why ``SMALL_STEP_FLOPS`` (``tunelab/train/threads.py``) is where it is. Each row is one network at
one batch size, trained by tunelab's plain engine (a lone run's step: gather, forward, loss,
backward, gradient magnitudes, fused Adam) on random 28 x 28 images, in a fresh process per thread
count (OpenMP's wait policy is tunelab's, read once when torch loads it), the settings alternating
within each round; median wall ms a step over the rounds, and the ratio. The step's FLOPs are what
tunelab counts to choose (three forward passes per image).

    python benchmarks/threads.py                    # all rows, 3 rounds
    python benchmarks/threads.py --rounds 5 --rows mlp-b32,cnn-b64
"""

from __future__ import annotations

import tunelab  # noqa: F401  first: OpenMP's wait policy before torch loads it

# isort: split

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MLP = {"kind": "mlp", "hidden": [448, 192, 320, 128, 384], "batch_norm": True, "dropout": 0.2}
CNN = {
    "kind": "cnn",
    "blocks": [{"filters": 32, "pool": "max"}, {"filters": 64, "pool": "max"}],
    "dense": [128],
}
ROWS: dict[str, tuple[dict[str, Any], int]] = {  # paper 000's Table-I MLP; a small MNIST CNN
    "mlp-b32": (MLP, 32),
    "mlp-b128": (MLP, 128),
    "mlp-b512": (MLP, 512),
    "cnn-b16": (CNN, 16),
    "cnn-b64": (CNN, 64),
    "cnn-b256": (CNN, 256),
}


def child(row: str, seconds: float) -> None:
    """In a fresh process: time steps of ``row`` for about ``seconds``; print ms a step and FLOPs."""
    import torch

    from tunelab.config import RunConfig
    from tunelab.data.splits import Splits
    from tunelab.train.engines.plain import PlainEngine
    from tunelab.train.loop import step_flops
    from tunelab.train.state import RunState

    model, batch = ROWS[row]
    n = 4096
    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(n, 1, 28, 28, generator=gen), torch.randint(0, 10, (n,), generator=gen)
    splits = Splits("random", x, y, x[:256], y[:256], x[:256], y[:256], 10, (1, 28, 28), {})
    config = RunConfig.model_validate(
        {"model": model, "train": {"epochs": 1, "batch_size": batch, "device": "cpu", "optimizer": "adam"}}
    )
    state = RunState.start(config, splits, torch.device("cpu"))
    engine = PlainEngine([state], splits, torch.device("cpu"))
    engine.begin_epoch([[1e-3]] * 1_000_000)
    order = torch.randperm(n, generator=gen)
    steps, done = 0, 0.0
    for warm in (True, False):
        begin, count = time.perf_counter(), 0
        while time.perf_counter() - begin < (seconds / 4 if warm else seconds):
            at = (count * batch) % (n - batch)
            engine.step(order[at : at + batch][None], 0)
            count += 1
        steps, done = count, time.perf_counter() - begin
    flops = step_flops([state], splits, batch)
    print(json.dumps({"ms": done / steps * 1e3, "flops": flops, "threads": torch.get_num_threads()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0, help="timed steps of one measurement")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated: {', '.join(ROWS)}")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.seconds)
        return
    sys.path.insert(0, str(REPO / "src"))
    from tunelab.provenance import git_commit
    from tunelab.train.threads import usable_cores

    cores = usable_cores()
    rows = args.rows.split(",")
    load = os.getloadavg()[0]
    print(f"commit {git_commit()} · {cores} usable cores · load average {load:.2f} at start\n")
    print(f"| step | GFLOP | 1 thread ms | {cores} threads ms | {cores} threads / 1 |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        times: dict[int, list[float]] = {1: [], cores: []}
        flops = 0.0
        for r in range(args.rounds):
            for threads in (1, cores) if r % 2 == 0 else (cores, 1):
                env = os.environ | {"OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO / "src")}
                cmd = [sys.executable, __file__, "--child", row, "--seconds", str(args.seconds)]
                out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
                result = json.loads(out.strip().splitlines()[-1])
                times[threads].append(result["ms"])
                flops = result["flops"]
        one, all_ = statistics.median(times[1]), statistics.median(times[cores])
        print(f"| {row} | {flops / 1e9:.2f} | {one:.2f} | {all_:.2f} | {all_ / one:.2f} |", flush=True)
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
