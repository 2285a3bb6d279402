"""One optimizer step of a population of 16 against 16 lone optimizers, in microseconds.

16 members of a small MLP (64-64-10 on digits' 8×8 pixels, 4,810 parameters each) and of paper
000's Table-I MLP (784-448-192-320-128-384-10, 594,122 each): 16 ``torch.optim`` optimizers (fused,
as a lone run's; one per member, as 16 trials trained one by one step) against one
``PopulationOptimizer`` over the stacked tensors. Members with the same settings and learning rate
step in one call, so the rows differ in how many learning rates the 16 share: one (repeats over
seeds), two (paper 000's search: lr in {1e-3, 1e-4}) or 16 (a learning-rate grid). Same process,
device and threads; the update only, gradients fixed. Ratio = lone / population (above 1: the
population's step is faster).

    python benchmarks/optimizer_step.py
    python benchmarks/optimizer_step.py --device cuda
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable

import torch

from tunelab.config import OptimizerConfig
from tunelab.provenance import device_name, git_commit
from tunelab.train import resolve_device
from tunelab.train.optim import PopulationOptimizer, make_optimizer

MODELS = {"64 (digits)": [64, 64, 10], "Table-I (MNIST)": [784, 448, 192, 320, 128, 384, 10]}


def shapes(layers: list[int]) -> list[tuple[int, ...]]:
    out: list[tuple[int, ...]] = []
    for n_in, n_out in itertools.pairwise(layers):
        out += [(n_out, n_in), (n_out,)]
    return out


def per_step_us(step: Callable[[], None], device: torch.device, steps: int) -> float:
    for _ in range(10):  # warm-up: state allocation and first-call costs stay out
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / steps * 1e6


def lone(configs: list[OptimizerConfig], layers: list[int], device: torch.device, steps: int) -> float:
    members = []
    for config in configs:
        params = [torch.zeros(s, device=device, requires_grad=True) for s in shapes(layers)]
        for p in params:
            p.grad = torch.randn_like(p) * 1e-3
        members.append(make_optimizer(params, config))

    def step() -> None:
        for optimizer in members:
            optimizer.step()

    return per_step_us(step, device, steps)


def population(configs: list[OptimizerConfig], layers: list[int], device: torch.device, steps: int) -> float:
    n = len(configs)
    params = {f"p{i}": torch.zeros(n, *s, device=device) for i, s in enumerate(shapes(layers))}
    optimizer = PopulationOptimizer(params, configs)
    grads = [torch.randn_like(p) * 1e-3 for p in params.values()]
    lrs = [c.lr for c in configs]
    return per_step_us(lambda: optimizer.step(grads, lrs), device, steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--members", type=int, default=16)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    device = resolve_device(args.device)
    n = args.members
    grid = [10 ** (-4 + 2 * i / max(1, n - 1)) for i in range(n)]
    rows = {
        f"adam, 1 lr ({n} seeds)": [OptimizerConfig(name="adam", lr=1e-3)] * n,
        "adam, 2 lrs (paper 000)": [OptimizerConfig(name="adam", lr=(1e-3, 1e-4)[i % 2]) for i in range(n)],
        f"adam, {n} lrs": [OptimizerConfig(name="adam", lr=lr) for lr in grid],
        f"sgd momentum, {n} lrs": [OptimizerConfig(name="sgd", lr=lr, momentum=0.9) for lr in grid],
    }
    print(f"device: {device_name(device)} · torch {torch.__version__} · commit {git_commit()}")
    print(f"{n} members, {args.steps} timed steps\n")
    print("| MLP | optimizer | lone optimizers (µs/step) | population (µs/step) | ratio |")
    print("|---|---|---:|---:|---:|")
    for model, layers in MODELS.items():
        for name, configs in rows.items():
            alone = lone(configs, layers, device, args.steps)
            together = population(configs, layers, device, args.steps)
            print(f"| {model} | {name} | {alone:.0f} | {together:.0f} | {alone / together:.2f}x |")


if __name__ == "__main__":
    main()
