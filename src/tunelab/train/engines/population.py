"""The engine of a vectorised population: several members of one architecture trained at once.

Members' weights are stacked along a leading member axis (``torch.func.stack_module_state``) and one
batched forward/backward (``vmap`` of ``functional_call``) trains them all: one kernel launch where
there were P, and batched matrix products that keep a GPU or the CPU's cores busy. Each member keeps
its own hyperparameters (:class:`~tunelab.train.optim.PopulationOptimizer`) and gradient clipping,
so it follows its lone run within float tolerance (dropout masks come from another random stream).
MLPs of different widths, depths, activations and dropout rates train padded to one shape
(:mod:`tunelab.train.padding`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from tunelab.data import Splits
from tunelab.train.augment import Augmenter, wanted
from tunelab.train.engines.base import EpochSums, weight_layers
from tunelab.train.evaluation import eval_batch_size
from tunelab.train.optim import PopulationOptimizer, make_optimizer
from tunelab.train.padding import differ, padded_mlps, unpad_state
from tunelab.train.state import RunState


class PopulationEngine:
    """Trains its members' stacked copies; each member's own model keeps its initial weights."""

    def __init__(self, states: Sequence[RunState], splits: Splits, device: torch.device) -> None:
        configs = [s.config for s in states]
        first = configs[0].train
        self.states, self.splits, self.device = list(states), splits, device
        self.pad = differ([c.model for c in configs])
        models = [s.model for s in states]
        nets = (
            padded_mlps([c.model for c in configs], models, splits.input_shape, splits.n_classes)
            if self.pad
            else models
        )
        params, self.buffers = stack_module_state(nets)
        self.params = {k: p.detach().requires_grad_(True) for k, p in params.items()}
        # what a member's state dict holds (a factory's module may keep buffers out of it)
        self.keys = list(models[0].state_dict())
        self.base = copy.deepcopy(nets[0]).to("meta")
        base = self.base
        self.forward = vmap(lambda p, b, x: functional_call(base, (p, b), (x,)), randomness="different")
        self.optimizer = PopulationOptimizer(self.params, [c.train.optimizer for c in configs])
        self.shapes = [{k: v.shape for k, v in model.named_parameters()} for model in models]
        # no autocast cache: a CUDA graph cannot capture one (and each weight is cast once a step anyway)
        self.autocast = torch.autocast(
            device.type, dtype=torch.bfloat16, enabled=first.precision == "bf16", cache_enabled=False
        )
        # mean |g| of a layer divides by the member's own size of it; 0: the member lacks that layer
        layers = weight_layers(nets[0]) if first.track_gradients else {}
        self.layer_names = [f"{n}.weight" for n in layers if f"{n}.weight" in self.params]
        self.sizes = torch.tensor(
            [[s[n].numel() if n in s else 0 for n in self.layer_names] for s in self.shapes], device=device
        )
        self.max_norms = torch.tensor([c.train.grad_clip or math.inf for c in configs], device=device)
        self.clip = any(c.train.grad_clip is not None for c in configs)
        self.batch_size = first.batch_size
        self.steps_per_epoch = math.ceil(len(splits.y_train) / self.batch_size)
        augments = [c.train.augment for c in configs]  # each member its own (or none)
        self.augment = Augmenter(augments, len(splits.y_train), device) if wanted(augments) else None
        self.eval_batch = eval_batch_size(nets[0], splits.x_val, first.eval_batch_size, members=len(nets))
        # reduce-overhead: every full batch replays one captured step (rmsprop's unfused step cannot be)
        self.graphs = first.compile_mode() == "reduce-overhead" and self.optimizer.fused
        self.sum: _Sums | None = None  # rebuilt when members leave: a graph holds the tensors it captured
        self.graph: _StepGraph | None = None
        self.rates: Sequence[Sequence[float]] = ()
        for row, state in enumerate(states):
            if state.saved is not None:
                self.load(row, state.saved["model"], state.saved["optimizer"])

    def begin_epoch(self, rates: Sequence[Sequence[float]]) -> None:
        self.base.train()
        if self.sum is None:
            self.sum = _Sums.zeros(self.sizes.clamp(min=1), self.max_norms)
            if self.graphs:
                shape = (len(self.states), self.batch_size)
                self.graph = _StepGraph(self.train_step, self.sum, shape, self.device)
        self.sum.zero_()
        self.rates = rates
        if self.augment:  # each member's crops and flips from its own generator, as its lone run's
            self.augment.draw([state.order for state in self.states])
        if self.graph:  # the epoch's learning rates, read by the captured step from the device
            self.graph.schedule(rates)

    def step(self, rows: torch.Tensor, at: int) -> None:
        assert self.sum is not None  # begin_epoch made it
        if self.graph and rows.shape[1] == self.batch_size:
            self.graph(rows, at)
        else:  # a shorter last batch runs uncaptured
            self.train_step(rows, self.rates[at], self.sum)

    def train_step(self, index: torch.Tensor, lrs: Sequence[float] | torch.Tensor, sums: _Sums) -> None:
        """One step of every member on the batch rows ``index`` (members × batch)."""
        params, x, y = self.params, self.splits.x_train[index], self.splits.y_train[index]
        if self.augment:
            x = self.augment(x, index)
        with self.autocast:
            logits = self.forward(params, self.buffers, x)
        losses = (
            F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), reduction="none")
            .view(len(index), -1)
            .mean(1)
        )
        # contiguous: vmap's gradients can be strided; torch 2.13's fused CPU optimizers misread them
        grads = [g.contiguous() for g in torch.autograd.grad(losses.sum(), list(params.values()))]
        if self.clip:
            grads = _clip_per_member(grads, sums.max_norms)
        if self.layer_names:  # mean |g| of each member's layer: its L1 norm over the layer's size
            by_name = dict(zip(params, grads, strict=True))
            # abs().sum(1): the L1 norm in half vector_norm(..., 1)'s time on a CPU (as a lone run's)
            norms = [by_name[n].flatten(1).abs().sum(dim=1) for n in self.layer_names]
            sums.grads += torch.stack(norms, dim=1) / sums.sizes
        self.optimizer.step(grads, lrs)
        sums.loss += losses.detach() * index.shape[1]
        sums.correct += (logits.argmax(dim=2) == y).sum(dim=1)

    def sums(self) -> list[EpochSums]:
        assert self.sum is not None
        n_train = len(self.splits.y_train)
        losses = (self.sum.loss / n_train).tolist()
        accuracies = (self.sum.correct.double() / n_train).tolist()
        grad_means = (self.sum.grads / self.steps_per_epoch).tolist()
        out = []
        for row, sizes in enumerate(self.sizes.tolist()):
            sized = zip(self.layer_names, grad_means[row], sizes, strict=True)
            grads = {n.removesuffix(".weight"): g for n, g, size in sized if size}
            out.append(EpochSums(losses[row], accuracies[row], grads))
        return out

    @torch.no_grad()
    def evaluate(self) -> list[tuple[float, float]]:
        self.base.eval()
        x_val, y_val, batch = self.splits.x_val, self.splits.y_val, self.eval_batch
        members, n = len(self.states), len(y_val)
        loss = torch.zeros(members, device=y_val.device, dtype=torch.float64)
        correct = torch.zeros_like(loss)
        with self.autocast:
            for begin in range(0, n, batch):
                x, y = x_val[begin : begin + batch], y_val[begin : begin + batch]
                logits = self.forward(self.params, self.buffers, x.expand(members, *x.shape)).float()
                target = y.expand(members, -1)
                loss += (
                    F.cross_entropy(logits.flatten(0, 1), target.flatten(), reduction="none")
                    .view(members, -1)
                    .sum(1)
                    .double()
                )
                correct += (logits.argmax(dim=2) == target).sum(dim=1).double()
        return list(zip((loss / n).tolist(), (correct / n).tolist(), strict=True))

    def model_state(self, row: int) -> dict[str, torch.Tensor]:
        stacked = self.params | self.buffers
        if self.pad:
            return unpad_state(
                {k: v[row].detach().clone() for k, v in stacked.items()}, self.states[row].model
            )
        return {k: stacked[k][row].detach().clone() for k in self.keys}

    def optimizer_state(self, row: int) -> dict[str, Any]:
        state = self.states[row]
        groups = make_optimizer(list(state.model.parameters()), state.config.train.optimizer)
        return {
            "state": self.optimizer.export(row, self.shapes[row]),
            "param_groups": groups.state_dict()["param_groups"],
        }

    @torch.no_grad()
    def load(self, row: int, model_state: dict[str, torch.Tensor], optimizer_state: dict[str, Any]) -> None:
        stacked = self.params | self.buffers
        for key, value in model_state.items():  # a padded member's own weights are its leading slices
            stacked[key][row][tuple(slice(0, n) for n in value.shape)].copy_(value)
        self.optimizer.load(row, optimizer_state["state"], self.shapes[row])

    def drop(self, rows: Sequence[int]) -> None:
        keep = [row for row in range(len(self.states)) if row not in rows]
        self.params = {k: v[keep].detach().requires_grad_(True) for k, v in self.params.items()}
        self.buffers = {k: v[keep] for k, v in self.buffers.items()}
        self.optimizer.keep(keep, self.params)
        self.states = [self.states[row] for row in keep]
        self.shapes = [self.shapes[row] for row in keep]
        self.sizes, self.max_norms = self.sizes[keep], self.max_norms[keep]
        if self.augment:
            self.augment.keep(keep)
        self.sum, self.graph = None, None


def stacking_problem(model: nn.Module, input_shape: tuple[int, ...]) -> str | None:
    """Why copies of ``model`` cannot train as one population, or None when they can.

    Two stacked copies run a vmapped forward and backward in training mode and a forward in eval
    mode, on a batch of two blank images: what a population does. A network that calls ``.item()``,
    branches on its data or has no batching rule for an operation fails here, as does one whose
    state dict names a tensor twice (tied weights, which stacking holds once).
    """
    nets = [model, copy.deepcopy(model)]
    params, buffers = stack_module_state(nets)
    params = {k: p.detach().requires_grad_(True) for k, p in params.items()}
    missing = [k for k in model.state_dict() if k not in params and k not in buffers]
    if missing:
        return f"its state dict names {missing[0]!r}, a tensor shared with another layer"
    base = copy.deepcopy(model).to("meta")
    forward = vmap(lambda p, b, x: functional_call(base, (p, b), (x,)), randomness="different")
    first = next(iter(params.values()), None)
    x = torch.zeros(2, 2, *input_shape, device=first.device if first is not None else "cpu")
    try:
        base.train()
        logits = forward(params, buffers, x)
        torch.autograd.grad(logits.float().sum(), list(params.values()), allow_unused=True)
        base.eval()
        with torch.no_grad():
            forward(params, buffers, x)
    except Exception as exc:  # the user's network: whatever vmap refuses
        return f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
    return None


@dataclass
class _Sums:
    """A population's running sums over an epoch, zeroed in place (a captured step adds to them),
    and the per-member constants its step reads."""

    loss: torch.Tensor  # (members,)
    correct: torch.Tensor  # (members,)
    grads: torch.Tensor  # (members, layers): sum of mean |g|
    sizes: torch.Tensor  # (members, layers): each member's size of each layer (at least 1)
    max_norms: torch.Tensor  # (members,): gradient clipping (inf: none)

    @classmethod
    def zeros(cls, sizes: torch.Tensor, max_norms: torch.Tensor) -> _Sums:
        members, device = len(sizes), sizes.device
        return cls(
            torch.zeros(members, device=device),
            torch.zeros(members, device=device, dtype=torch.long),
            torch.zeros(sizes.shape, device=device),
            sizes,
            max_norms,
        )

    def zero_(self) -> None:
        for t in (self.loss, self.correct, self.grads):
            t.zero_()


class _StepGraph:
    """A population's training step captured once in a CUDA graph, then replayed for each full batch.

    Kernel launches, not arithmetic, bound a population's step on a GPU at small batches (hundreds of
    small kernels); a replay launches them all at once. The step reads its batch rows and learning
    rates from tensors the graph owns and adds to ``sums``, which lives as long as the graph. Off
    CUDA the same step runs through the same tensors without a graph (what the CPU tests exercise).
    """

    WARMUP = 3  # uncaptured steps on a side stream first, as torch.cuda.graphs asks

    def __init__(
        self,
        step: Callable[[torch.Tensor, torch.Tensor, _Sums], None],
        sums: _Sums,
        index_shape: tuple[int, int],
        device: torch.device,
    ) -> None:
        self.step, self.sums, self.device = step, sums, device
        self.index = torch.zeros(index_shape, dtype=torch.long, device=device)
        # fused CUDA optimizers read a float32 learning rate; off CUDA a double, as a lone run's is
        dtype = torch.float32 if device.type == "cuda" else torch.float64
        self.lrs = torch.zeros(index_shape[0], device=device, dtype=dtype)
        self.table = self.lrs.unsqueeze(0)
        self.graph: Any = None
        self.warm = 0

    def schedule(self, lrs: Sequence[Sequence[float]]) -> None:
        """Each step's learning rate of each member this epoch (one copy to the device an epoch)."""
        self.table = torch.tensor(lrs, device=self.device, dtype=self.lrs.dtype)

    def __call__(self, index: torch.Tensor, at: int) -> None:
        """Train on the batch rows ``index`` with the learning rates of this epoch's step ``at``."""
        self.index.copy_(index)
        self.lrs.copy_(self.table[at])
        if self.device.type != "cuda":
            self.step(self.index, self.lrs, self.sums)
        elif self.graph is not None:
            self.graph.replay()
        elif self.warm < self.WARMUP:
            main, side = torch.cuda.current_stream(self.device), torch.cuda.Stream(self.device)
            side.wait_stream(main)
            with torch.cuda.stream(side):
                self.step(self.index, self.lrs, self.sums)
            main.wait_stream(side)
            self.warm += 1
        else:
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):  # records the step without running it
                self.step(self.index, self.lrs, self.sums)
            self.graph.replay()


def _clip_per_member(grads: list[torch.Tensor], max_norms: torch.Tensor) -> list[torch.Tensor]:
    """``clip_grad_norm_`` for each member: scale its gradients to a global norm of at most its max."""
    norms = torch.stack([torch.linalg.vector_norm(g.flatten(1), dim=1) for g in grads], dim=1)
    scale = (max_norms / (torch.linalg.vector_norm(norms, dim=1) + 1e-6)).clamp(max=1.0)
    return [g * scale.view(-1, *[1] * (g.dim() - 1)) for g in grads]
