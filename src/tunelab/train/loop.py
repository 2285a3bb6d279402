"""The training loop: every run, lone or in a population, trains through :func:`train_members`.

The dataset lives on the device; each epoch's batches are index slices of one ``randperm`` per
member. What differs between a lone run and a vectorised population is the engine
(:mod:`tunelab.train.engines`); each member's bookkeeping is its :class:`RunState`.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence

import torch

from tunelab.config import RunConfig
from tunelab.data import Splits
from tunelab.models.flops import forward_flops
from tunelab.train.callbacks import EpochCallback, EpochWatcher
from tunelab.train.checkpoint import Checkpointer
from tunelab.train.device import prepare_device, resolve_device
from tunelab.train.engines.base import Engine
from tunelab.train.engines.plain import PlainEngine
from tunelab.train.state import RunState, TrainResult
from tunelab.train.threads import train_threads

EngineFactory = Callable[[Sequence[RunState], Splits, torch.device], Engine]


def train_members(
    make_engine: EngineFactory,
    configs: Sequence[RunConfig],
    splits: Splits,
    callbacks: Sequence[Sequence[EpochCallback]] | None = None,
    device: str | torch.device | None = None,
    checkpoints: Sequence[Checkpointer | None] | None = None,
    watchers: Sequence[EpochWatcher | None] | None = None,
) -> list[TrainResult]:
    """Train ``configs`` (one batch size) on ``splits`` with the engine ``make_engine`` builds;
    one result per configuration, and never an exception for a diverging member.

    A member leaves the engine when it finishes (completed, early-stopped, stopped by a callback,
    diverged) while the others go on. With a checkpoint, a member's state is saved after the epochs
    its checkpointer wants, and a member that finds a saved state continues from it, with either
    engine. A member's watcher sees each of its epochs as it ends, with its status on the last.
    """
    first = configs[0].train
    device = resolve_device(first.device) if device is None else torch.device(device)
    prepare_device(device)
    splits = splits.to(device)
    states = [
        RunState.start(config, splits, device, cbs, ckpt)
        for config, cbs, ckpt in zip(
            configs, callbacks or [()] * len(configs), checkpoints or [None] * len(configs), strict=True
        )
    ]
    for state, watch in zip(states, watchers or [None] * len(states), strict=True):
        state.watch = watch
    engine = make_engine(states, splits, device)
    n_train, batch_size = len(splits.y_train), first.batch_size
    # counting the FLOPs costs a forward pass: train_threads calls it only where the user did not choose
    count = functools.partial(step_flops, states, splits, batch_size)
    threads = train_threads(count) if device.type == "cpu" else None
    steps = math.ceil(n_train / batch_size)
    live = list(states)  # the member in each row of the engine
    while live:
        start = time.perf_counter()
        rates = list(zip(*[state.rates(steps) for state in live], strict=True))  # rates[step][row]
        order = torch.stack([torch.randperm(n_train, generator=state.order, device=device) for state in live])
        engine.begin_epoch(rates)
        for at, begin in enumerate(range(0, n_train, batch_size)):
            engine.step(order[:, begin : begin + batch_size], at)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start

        val, sums = engine.evaluate(), engine.sums()
        finished = []
        for row, state in enumerate(live):
            record = state.record(sums[row], val[row], rates[0][row], steps, seconds)
            verdict, improved = state.judge(record)
            if improved and state.restores_best:
                state.best_state = engine.model_state(row)
            ended = bool(verdict) or state.epoch == state.config.train.epochs
            if ended:
                if verdict:
                    state.status, state.reason = verdict
                state.final_state = engine.model_state(row)
                finished.append(row)
            elif state.checkpoint and state.checkpoint.due():  # builds the state only when it is kept
                model, optimizer = engine.model_state(row), engine.optimizer_state(row)
                state.checkpoint.save(state.checkpoint_state(model, optimizer))
            if state.watch is not None:
                state.watch(state.epoch, record, state.status if ended else None)
        live = [state for row, state in enumerate(live) if row not in finished]
        if finished and live:  # finished members leave: pruning and early stopping save work
            engine.drop(finished)
    return [state.result(splits, device, threads) for state in states]


def step_flops(states: Sequence[RunState], splits: Splits, batch_size: int) -> float | None:
    """FLOPs of one training step of every member: three forward passes' worth (the backward pass
    multiplies twice as much) for each image of the batch."""
    counts = [forward_flops(state.model, splits.x_train[0]) for state in states]
    if any(count is None for count in counts):
        return None
    return 3 * batch_size * sum(count for count in counts if count is not None)


def train(
    config: RunConfig,
    splits: Splits,
    callbacks: Sequence[EpochCallback] = (),
    device: str | torch.device | None = None,
    checkpoint: Checkpointer | None = None,
    watch: EpochWatcher | None = None,
) -> TrainResult:
    """Train ``config`` on ``splits``; never raises for a diverging run (status ``diverged``).

    With a ``checkpoint``, the state is saved after every epoch, and a run that finds a saved state
    continues from it: same weights, optimizer, schedule, early stopping, RNG streams and history.
    ``watch`` sees each epoch as it ends (a progress view).
    """
    (result,) = train_members(PlainEngine, [config], splits, [callbacks], device, [checkpoint], [watch])
    return result
