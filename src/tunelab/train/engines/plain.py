"""The engine of a lone run: one ``nn.Module`` and its ``torch.optim`` optimizer.

Losses, accuracies and gradient magnitudes accumulate in device tensors and are read once per
epoch, so a GPU never waits on the host inside an epoch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from tunelab.data import Splits
from tunelab.train.augment import Augmenter, wanted
from tunelab.train.engines.base import EpochSums, weight_layers
from tunelab.train.evaluation import evaluate
from tunelab.train.optim import FusedAdamStep, make_optimizer
from tunelab.train.state import RunState


class PlainEngine:
    """Trains one member's own model in place: torch.compile, bf16 autocast, gradient clipping and
    per-layer gradient magnitudes as its configuration asks."""

    def __init__(self, states: Sequence[RunState], splits: Splits, device: torch.device) -> None:
        if len(states) != 1:
            raise ValueError(f"a plain engine trains one member, got {len(states)}")
        state = states[0]
        tc = state.config.train
        self.state, self.splits, self.device = state, splits, device
        self.model = state.model
        self.params = list(self.model.parameters())
        self.optimizer = make_optimizer(self.params, tc.optimizer)
        # fused Adam/AdamW without optimizer.step()'s per-call Python: same kernel, same numbers
        self.update = FusedAdamStep(self.optimizer) if FusedAdamStep.applies(self.optimizer) else None
        # reduce-overhead: CUDA graphs for the compiled forward and backward on a GPU (few launches a step)
        mode = tc.compile_mode()
        self.forward = torch.compile(self.model, mode=mode) if mode else self.model
        self.autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=tc.precision == "bf16")
        self.grad_clip = tc.grad_clip
        self.layers = weight_layers(self.model) if tc.track_gradients else {}
        self.layer_sizes = torch.tensor(
            [w.numel() for w in self.layers.values()], device=device, dtype=torch.float32
        )
        self.steps_per_epoch = math.ceil(len(splits.y_train) / tc.batch_size)
        self.augment = Augmenter([tc.augment], len(splits.y_train), device) if wanted([tc.augment]) else None
        self.rates: Sequence[Sequence[float]] = ()
        self.loss_sum = torch.zeros((), device=device)
        self.correct = torch.zeros((), device=device, dtype=torch.long)
        self.grad_sum = torch.zeros(len(self.layers), device=device)
        if state.saved is not None:
            self.load(0, state.saved["model"], state.saved["optimizer"])
            # a lone run's dropout masks come from the global stream: it continues where it stopped
            torch.set_rng_state(state.saved["torch_rng"])
            if state.saved["cuda_rng"] and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(state.saved["cuda_rng"])

    def begin_epoch(self, rates: Sequence[Sequence[float]]) -> None:
        self.model.train()
        self.rates = rates
        if self.augment:  # after the loop's batch order, from the same generator (as a population does)
            self.augment.draw([self.state.order])
        for t in (self.loss_sum, self.correct, self.grad_sum):
            t.zero_()

    def step(self, rows: torch.Tensor, at: int) -> None:
        lr = self.rates[at][0]
        batch = rows[0]
        x, y = self.splits.x_train[batch], self.splits.y_train[batch]
        if self.augment:
            x = self.augment(x[None], rows[:1])[0]
        with self.autocast:
            logits = self.forward(x)
        loss = F.cross_entropy(logits.float(), y)
        for p in self.params:  # optimizer.zero_grad(set_to_none=True) without its profiler hook
            p.grad = None
        loss.backward()
        if self.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        if self.layers:
            grads = [cast(torch.Tensor, w.grad) for w in self.layers.values()]  # each has one now
            # mean |g|; abs().sum(), not _foreach_norm(grads, 1): that is 2.7x slower on a CPU (10-12% of
            # a batch-32 step of paper 000's MLPs, benchmarks/step_profile.py) and less exact in float32
            self.grad_sum += torch.stack([g.abs().sum() for g in grads]) / self.layer_sizes
        if self.update is not None:
            self.update(lr)
        else:
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            self.optimizer.step()
        self.loss_sum += loss.detach() * len(batch)
        self.correct += (logits.argmax(dim=1) == y).sum()

    def sums(self) -> list[EpochSums]:
        n_train = len(self.splits.y_train)
        grads = (self.grad_sum / self.steps_per_epoch).tolist()
        return [
            EpochSums(
                self.loss_sum.item() / n_train,
                self.correct.item() / n_train,
                dict(zip(self.layers, grads, strict=True)),
            )
        ]

    def evaluate(self) -> list[tuple[float, float]]:
        s = self.splits
        val = evaluate(self.model, s.x_val, s.y_val, s.n_classes, self.state.eval_batch)
        return [(val.loss, val.accuracy)]

    def model_state(self, row: int) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def optimizer_state(self, row: int) -> dict[str, Any]:
        return self.optimizer.state_dict()

    def load(self, row: int, model_state: dict[str, torch.Tensor], optimizer_state: dict[str, Any]) -> None:
        self.model.load_state_dict(model_state)
        self.optimizer.load_state_dict(optimizer_state)
        if self.update is not None:
            self.update.forget()  # the loaded state is new tensors

    def drop(self, rows: Sequence[int]) -> None:
        pass  # one member: once it has finished, the loop ends
