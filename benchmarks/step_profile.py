"""Where a lone batch-32 training step of paper 000's MLPs spends its time on a CPU, and the lean step.

Part 1 (phases): one lone run's step taken apart: batch gathering, forward, loss, clearing the
gradients, backward, optimizer, metric bookkeeping, timed with the thread's CPU clock (steadier than
wall time on a shared machine), one thread; and torch's profiler's self time of the ATen calls of
the same steps, grouped: matrix multiplies, dropout's random masks, batch norm, the fused Adam
kernel, everything else (element-wise calls, views, dispatch). The per-epoch validation pass is
timed too, per training epoch's worth of steps.

Part 2 (A/B): the plain engine's step as it was (``optimizer.zero_grad()``, ``optimizer.step()``)
against the engine as it is (gradients cleared directly; ``FusedAdamStep``: the fused kernel called
without ``optimizer.step()``'s Python), interleaved in rounds on the same model, data and batches;
median CPU and wall µs a step and the ratio, and a check that both give the same weights.

    OMP_NUM_THREADS=1 python benchmarks/step_profile.py --data-dir ../shared/data
"""

from __future__ import annotations

import tunelab  # noqa: F401  first: OpenMP's wait policy before torch loads it

# isort: split

import argparse
import collections
import statistics
import time
from pathlib import Path
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn
from torch.profiler import ProfilerActivity, profile

from tunelab.config import RunConfig
from tunelab.data import load_splits
from tunelab.provenance import git_commit
from tunelab.train.engines.plain import PlainEngine
from tunelab.train.evaluation import evaluate
from tunelab.train.optim import FusedAdamStep
from tunelab.train.state import RunState

MLPS = {  # paper 000's space: its Table-I winner and the space's mean width at its mean depth
    "Table-I 448-192-320-128-384": [448, 192, 320, 128, 384],
    "320 x 4": [320, 320, 320, 320],
}


def config(hidden: list[int], seed: int = 0) -> RunConfig:
    return RunConfig.model_validate(
        {
            "data": {"name": "mnist", "val_fraction": 0.1, "normalize": "unit"},
            "model": {
                "kind": "mlp",
                "hidden": hidden,
                "batch_norm": True,
                "dropout": 0.2,
                "activation": "relu",
                "init": "xavier_uniform",
            },
            "train": {
                "epochs": 1,
                "batch_size": 32,
                "device": "cpu",
                "seed": seed,
                "optimizer": {"name": "adam", "lr": 1e-3, "eps": 1e-7},
            },
        }
    )


class OldEngine(PlainEngine):
    """The plain engine's step before the lean step (commit e4dd71e), for the A/B."""

    def step(self, rows: torch.Tensor, at: int) -> None:  # verbatim, but for the comment
        lr = self.rates[at][0]
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        batch = rows[0]
        x, y = self.splits.x_train[batch], self.splits.y_train[batch]
        if self.augment:
            x = self.augment(x[None], rows[:1])[0]
        with self.autocast:
            logits = self.forward(x)
        loss = F.cross_entropy(logits.float(), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        if self.layers:
            grads = [cast(torch.Tensor, w.grad) for w in self.layers.values()]  # each has one now
            self.grad_sum += torch.stack(torch._foreach_norm(grads, 1)) / self.layer_sizes  # mean |g|
        self.optimizer.step()
        self.loss_sum += loss.detach() * len(batch)
        self.correct += (logits.argmax(dim=1) == y).sum()


def engine(kind: type[PlainEngine], hidden: list[int], splits) -> PlainEngine:
    cfg = config(hidden)
    state = RunState.start(cfg, splits, torch.device("cpu"))
    e = kind([state], splits, torch.device("cpu"))
    e.begin_epoch([[1e-3]] * 100_000)
    return e


def phases(hidden: list[int], splits, steps: int, lean: bool = False) -> dict[str, float]:
    """CPU µs a step of each phase of the old step (the one the profile found), or of the lean one."""
    e = engine(OldEngine, hidden, splits)
    update = FusedAdamStep(e.optimizer)
    order = torch.randperm(len(splits.y_train))
    opt, model = e.optimizer, e.model
    names = [
        "gather",
        "forward",
        "loss",
        "zero_grad",
        "backward",
        "grad magnitudes",
        "optimizer",
        "bookkeeping",
    ]
    total = dict.fromkeys(names, 0.0)
    clock = time.thread_time
    for i in range(steps + 50):
        t = [clock()]
        b = order[(i * 32) % 50_000 :][:32]
        x, y = splits.x_train[b], splits.y_train[b]
        t.append(clock())
        logits = model(x)
        t.append(clock())
        loss = F.cross_entropy(logits, y)
        t.append(clock())
        if lean:
            for p in e.params:
                p.grad = None
        else:
            opt.zero_grad(set_to_none=True)
        t.append(clock())
        loss.backward()
        t.append(clock())
        grads = [cast(torch.Tensor, w.grad) for w in e.layers.values()]  # track_gradients (the default)
        if lean:
            e.grad_sum += torch.stack([g.abs().sum() for g in grads]) / e.layer_sizes
        else:
            e.grad_sum += torch.stack(torch._foreach_norm(grads, 1)) / e.layer_sizes
        t.append(clock())
        if lean:
            update(1e-3)
        else:
            opt.step()
        t.append(clock())
        e.loss_sum += loss.detach() * 32
        e.correct += (logits.argmax(dim=1) == y).sum()
        t.append(clock())
        if i >= 50:  # warm-up first
            for name, a, b_ in zip(names, t, t[1:], strict=False):
                total[name] += b_ - a
    return {k: v / steps * 1e6 for k, v in total.items()}


def op_groups(hidden: list[int], splits, steps: int) -> dict[str, float]:
    """Self CPU µs a step of the ATen calls, grouped (torch profiler; its own overhead included)."""
    e = engine(OldEngine, hidden, splits)
    rows = torch.randperm(len(splits.y_train))[: 32 * (steps + 20)].view(-1, 1, 32)
    for i in range(20):
        e.step(rows[i], 0)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(20, 20 + steps):
            e.step(rows[i], 0)
    groups = {
        "matmul (mm, addmm)": ("aten::mm", "aten::addmm", "aten::bmm"),
        "dropout masks (bernoulli_)": ("aten::bernoulli_",),
        "batch norm": ("aten::native_batch_norm", "aten::native_batch_norm_backward"),
        "Adam kernel (_fused_adam_)": ("aten::_fused_adam_",),
    }
    out: dict[str, float] = collections.defaultdict(float)
    for event in prof.key_averages():
        group = next((g for g, names in groups.items() if event.key in names), "everything else")
        out[group] += event.self_cpu_time_total / steps
    return dict(out)


def ab(
    hidden: list[int], splits, steps: int, rounds: int
) -> tuple[list[float], list[float], list[float], list[float], bool]:
    """Old and new engines stepped in alternating rounds on the same batches: CPU and wall µs a step."""
    old, new = engine(OldEngine, hidden, splits), engine(PlainEngine, hidden, splits)
    rows = torch.randperm(len(splits.y_train))[: 32 * steps].view(-1, 1, 32)
    cpu = {"old": [], "new": []}
    wall = {"old": [], "new": []}
    for e in (old, new):  # warm-up (and the lean step's first, state-making call)
        for i in range(10):
            e.step(rows[i], 0)
    for r in range(rounds):
        for name, e in (("old", old), ("new", new)) if r % 2 == 0 else (("new", new), ("old", old)):
            c, w = time.thread_time(), time.perf_counter()
            for i in range(steps):
                e.step(rows[i], 0)
            cpu[name].append((time.thread_time() - c) / steps * 1e6)
            wall[name].append((time.perf_counter() - w) / steps * 1e6)
    # the rounds interleave two engines on torch's one global stream of dropout masks, so the
    # equality check runs each engine alone from the same seed
    same = check_same(hidden, splits)
    return cpu["old"], cpu["new"], wall["old"], wall["new"], same


def check_same(hidden: list[int], splits) -> bool:
    """Whether old and new engines end 30 steps from the same seed with the same weights."""
    results = []
    for kind in (OldEngine, PlainEngine):
        e = engine(kind, hidden, splits)
        torch.manual_seed(7)
        rows = torch.randperm(len(splits.y_train))[: 32 * 30].view(-1, 1, 32)
        for i in range(30):
            e.step(rows[i], 0)
        results.append(e.model_state(0))
    return all(torch.equal(v, results[1][k]) for k, v in results[0].items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--parts", default="phases,ab")
    args = parser.parse_args()
    splits = load_splits(config([8]).data, data_dir=args.data_dir)
    import os

    print(
        f"commit {git_commit()} · torch {torch.__version__} · {torch.get_num_threads()} thread(s) · "
        f"load {os.getloadavg()[0]:.1f} · MNIST, batch 32, Adam, batch norm, dropout 0.2"
    )
    parts = args.parts.split(",")
    for name, hidden in MLPS.items():
        if "phases" in parts:
            ph, lean = phases(hidden, splits, args.steps), phases(hidden, splits, args.steps, lean=True)
            total, total_lean = sum(ph.values()), sum(lean.values())
            print(f"\n{name}: phases of a step (CPU µs, thread clock; {args.steps} steps)\n")
            print("| phase | old µs a step | share | lean µs a step |\n|---|---:|---:|---:|")
            for k, v in ph.items():
                print(f"| {k} | {v:.0f} | {v / total:.1%} | {lean[k]:.0f} |")
            print(f"| **step** | **{total:.0f}** | 100% | **{total_lean:.0f}** |")
            ops = op_groups(hidden, splits, min(args.steps, 150))
            total_ops = sum(ops.values())
            print("\n| ATen calls (profiler self time, wall clock: shares only) | share |\n|---|---:|")
            for k, v in sorted(ops.items(), key=lambda kv: -kv[1]):
                print(f"| {k} | {v / total_ops:.1%} |")
            e = engine(PlainEngine, hidden, splits)
            c = time.thread_time()
            for _ in range(3):
                evaluate(e.model, splits.x_val, splits.y_val, splits.n_classes, e.state.eval_batch)
            ev = (time.thread_time() - c) / 3
            steps = -(-len(splits.y_train) // 32)
            print(
                f"\nvalidation pass ({len(splits.y_val)} images, batch {e.state.eval_batch}): "
                f"{ev:.2f} CPU s, "
                f"{ev / (steps * total / 1e6):.1%} of an epoch's steps ({steps})"
            )
        if "ab" in parts:
            co, cn, wo, wn, same = ab(hidden, splits, args.steps, args.rounds)
            print(
                f"\n{name}: old step vs lean step, {args.rounds} alternating rounds of {args.steps} steps\n"
            )
            print(
                "| clock | old µs a step | new µs a step | old / new (median of rounds) "
                "| old / new (best round each) |"
            )
            print("|---|---:|---:|---:|---:|")
            for clock, o, n in (("CPU", co, cn), ("wall", wo, wn)):
                ratios = [a / b for a, b in zip(o, n, strict=True)]
                print(
                    f"| {clock} (median) | {statistics.median(o):.0f} | {statistics.median(n):.0f} | "
                    f"{statistics.median(ratios):.3f} (rounds {min(ratios):.3f}–{max(ratios):.3f}) | "
                    f"{min(o) / min(n):.3f} ({min(o):.0f} / {min(n):.0f}) |"
                )
            print(f"\nsame weights after 30 steps from the same seed: {same}")
    print(f"\nload {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
