"""Train several configurations of one architecture at once, as one vectorised population.

Trials that differ only in learning rate, momentum, weight decay, schedule, initialisation, early
stopping or seed (a grid over those, or the seeds of ``repeats``) share every layer shape. Their
weights are stacked along a leading member axis (``torch.func.stack_module_state``) and one batched
forward/backward (``vmap`` of ``functional_call``) trains them all: one kernel launch where there were
P, and batched matrix products that keep a GPU or the CPU's cores busy. Each member keeps its own
seed (initial weights and batch order), hyperparameters, schedule, early stopping and callbacks, so
its result matches training it alone (within float tolerance; dropout masks come from a different
random stream). A member that stops leaves the population while the others go on. MLPs of
different widths, depths, activations and dropout rates train together padded to one shape
(:mod:`tunelab.train.padding`).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state, vmap
from torch.optim import adam, rmsprop, sgd

from tunelab.config import MLPConfig, OptimizerConfig, PlateauSchedule, RunConfig
from tunelab.data import Splits
from tunelab.models import build_model, count_parameters
from tunelab.train.callbacks import EarlyStopping, EpochCallback
from tunelab.train.checkpoint import Checkpointer
from tunelab.train.loop import (
    Status,
    TrainResult,
    end_of_epoch,
    eval_batch_size,
    evaluate,
    loop_state,
    make_optimizer,
    prepare_device,
    resolve_device,
    restore_loop_state,
    weight_layers,
)
from tunelab.train.padding import differ, padded_mlps, unpad_state
from tunelab.train.schedules import Plateau, lr_steps

Padding = Literal["none", "free", "any"]


def population_key(config: RunConfig, pad: Padding = "none") -> tuple[Any, ...]:
    """Configurations with the same key can train as one population.

    ``pad`` lets MLPs of different architectures share a key; they train padded to one shape
    (:mod:`tunelab.train.padding`): ``free``, MLPs whose layers have the same sizes but other
    activations or dropout rates (padding adds no arithmetic); ``any``, MLPs of any widths and depths.
    """
    model, tc = config.model, config.train
    shape: dict[str, Any] = model.model_dump(exclude={"init"})
    if pad != "none" and isinstance(model, MLPConfig):
        shape = {"kind": "mlp", "batch_norm": model.batch_norm}
        if pad == "free":
            shape["hidden"] = model.hidden
    return (
        repr(shape),
        config.data,
        tc.batch_size,
        tc.optimizer.name,
        tc.precision,
        tc.track_gradients,
        tc.eval_batch_size,
    )


_TORCH = {"momentum": "momentum_buffer"}  # torch.optim's names for a member's state
_KINDS = {v: k for k, v in _TORCH.items()}


class PopulationOptimizer:
    """SGD, Adam, AdamW or RMSprop over stacked parameters, each member with its own learning rate,
    momentum, betas, epsilon and weight decay.

    Each member's slice of the stacked tensors goes through ``torch.optim``'s own functional step,
    fused where the single-run loop's optimizer is (:func:`~tunelab.train.loop.make_optimizer`): a
    member follows the arithmetic of a lone run, and one call per member replaces a dozen element-wise
    operations per layer.
    """

    def __init__(self, params: dict[str, torch.Tensor], configs: Sequence[OptimizerConfig]) -> None:
        names = {c.name for c in configs}
        if len(names) != 1:
            raise ValueError(f"a population needs one optimizer, got {sorted(names)}")
        self.name = names.pop()
        self.params = params
        self.configs = list(configs)
        device = next(iter(params.values())).device
        self.fused = self.name != "rmsprop" and device.type in ("cpu", "cuda")
        kinds = {
            "sgd": ("momentum",),
            "adam": ("exp_avg", "exp_avg_sq"),
            "adamw": ("exp_avg", "exp_avg_sq"),
            "rmsprop": ("square_avg", "grad_avg", "momentum"),
        }[self.name]
        self.state = {kind: {k: torch.zeros_like(p) for k, p in params.items()} for kind in kinds}
        # torch.optim keeps the step count of a fused optimizer on the device, of the others on the CPU
        where = device if self.fused else torch.device("cpu")
        self.counts = [[torch.zeros((), device=where) for _ in params] for _ in configs]
        self._slice()

    def keep(self, rows: list[int], params: dict[str, torch.Tensor]) -> None:
        """Keep only the members in ``rows`` (the others have finished), with ``params`` their weights."""
        self.configs = [self.configs[r] for r in rows]
        self.counts = [self.counts[r] for r in rows]
        self.state = {kind: {k: t[rows] for k, t in state.items()} for kind, state in self.state.items()}
        self.params = params
        self._slice()

    def _slice(self) -> None:
        """Each member's slices of the stacked parameters and state, made once for every step."""

        def by_member(tensors: Iterable[torch.Tensor]) -> list[list[torch.Tensor]]:
            return [list(row) for row in zip(*(t.detach().unbind(0) for t in tensors), strict=True)]

        self.rows = by_member(self.params.values())
        self.state_rows = {kind: by_member(state.values()) for kind, state in self.state.items()}
        self.settings = [(c.momentum, c.nesterov, c.weight_decay, c.betas, c.eps) for c in self.configs]

    def _kinds(self, row: int) -> list[str]:
        """The state a lone run of member ``row`` keeps (torch.optim creates no unused buffers)."""
        kinds = [k for k in self.state if k != "grad_avg"]  # grad_avg: centered RMSprop only
        return kinds if self.configs[row].momentum else [k for k in kinds if k != "momentum"]

    def export(self, row: int, shapes: dict[str, torch.Size]) -> dict[int, dict[str, torch.Tensor]]:
        """Member ``row``'s state as ``torch.optim`` keeps it (``state_dict()["state"]``) for a model
        whose parameters, in order, have ``shapes``: the leading slices of padded ones."""
        names = list(self.params)
        out = {}
        for i, (name, shape) in enumerate(shapes.items()):
            cut = tuple(slice(0, n) for n in shape)
            entry = {_TORCH.get(k, k): self.state[k][name][row][cut].clone() for k in self._kinds(row)}
            if self.name != "sgd":
                entry["step"] = self.counts[row][names.index(name)].clone()
            out[i] = entry
        return out

    def load(
        self, row: int, state: dict[int, dict[str, torch.Tensor]], shapes: dict[str, torch.Size]
    ) -> None:
        """Set member ``row``'s state from what :meth:`export` (or a lone run's optimizer) saved."""
        names = list(self.params)
        for i, (name, shape) in enumerate(shapes.items()):
            cut = tuple(slice(0, n) for n in shape)
            for key, value in state.get(i, {}).items():
                if key == "step":
                    self.counts[row][names.index(name)].copy_(value)
                else:
                    self.state[_KINDS.get(key, key)][name][row][cut].copy_(value)

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor], lrs: Sequence[float] | torch.Tensor) -> None:
        """One step of every member, ``lrs[i]`` the learning rate of the member in row ``i``.

        Members with the same settings and learning rate (repeats over seeds; most of a search
        whose learning rate is not searched) step in one call: the update is element-wise, so each
        member's arithmetic is that of a lone run either way, in one launch instead of one per member.
        """
        grad_rows = [list(row) for row in zip(*(g.unbind(0) for g in grads), strict=True)]
        groups: list[tuple[float | torch.Tensor, list[int]]]
        if isinstance(lrs, torch.Tensor):  # read on the device (a captured step): one call per member
            groups = [(lrs[row], [row]) for row in range(len(lrs))]
        else:
            same: dict[tuple[Any, ...], list[int]] = {}
            for row, rate in enumerate(lrs):
                same.setdefault((rate, self.settings[row]), []).append(row)
            groups = [(key[0], rows) for key, rows in same.items()]
        fused = True if self.fused else None
        for lr, rows in groups:
            c = self.configs[rows[0]]
            params = [t for r in rows for t in self.rows[r]]
            member = [t for r in rows for t in grad_rows[r]]
            state = {kind: [t for r in rows for t in slices[r]] for kind, slices in self.state_rows.items()}
            counts = [t for r in rows for t in self.counts[r]]
            match self.name:
                case "sgd":
                    buffers: list[torch.Tensor | None] = (
                        [*state["momentum"]] if c.momentum else [None] * len(params)
                    )
                    sgd.sgd(
                        params,
                        member,
                        buffers,
                        fused=fused,
                        weight_decay=c.weight_decay,
                        momentum=c.momentum,
                        lr=lr,  # type: ignore[arg-type]  # fused: a tensor too
                        dampening=0.0,
                        nesterov=c.nesterov,
                        maximize=False,
                    )
                case "adam" | "adamw":
                    adam.adam(
                        params,
                        member,
                        state["exp_avg"],
                        state["exp_avg_sq"],
                        [],
                        counts,
                        fused=fused,
                        decoupled_weight_decay=self.name == "adamw",
                        amsgrad=False,
                        beta1=c.betas[0],
                        beta2=c.betas[1],
                        lr=lr,
                        weight_decay=c.weight_decay,
                        eps=1e-8 if c.eps is None else c.eps,
                        maximize=False,
                    )
                case "rmsprop":  # never captured (unfused), so its rate is a number
                    assert not isinstance(lr, torch.Tensor)
                    rmsprop.rmsprop(
                        params,
                        member,
                        state["square_avg"],
                        state["grad_avg"],
                        state["momentum"],
                        counts,
                        lr=lr,
                        alpha=0.99,  # torch's default, as make_optimizer leaves it
                        eps=1e-8 if c.eps is None else c.eps,
                        weight_decay=c.weight_decay,
                        momentum=c.momentum,
                        centered=False,
                    )


@dataclass
class _Member:
    """One run of a population and the loop state that :func:`~tunelab.train.loop.train` keeps in
    local variables for a lone run."""

    config: RunConfig
    model: torch.nn.Module  # its own network: initial weights first, its result at the end
    order: torch.Generator  # its batch order
    callbacks: Sequence[EpochCallback]
    checkpoint: Checkpointer | None
    plateau: Plateau | None
    stopper: EarlyStopping | None
    history: list[dict[str, float]] = field(default_factory=list)
    best_state: dict[str, torch.Tensor] | None = None
    final_state: dict[str, torch.Tensor] | None = None
    status: Status = "completed"
    reason: str | None = None
    epoch: int = 0  # epochs trained, those before a resume included
    first_step: int = 0  # steps trained before this call (a resumed member's)
    earlier_time: float = 0.0
    resumed_from: int | None = None


def _member(
    config: RunConfig,
    splits: Splits,
    device: torch.device,
    callbacks: Sequence[EpochCallback],
    checkpoint: Checkpointer | None,
) -> tuple[_Member, dict[int, dict[str, torch.Tensor]] | None]:
    """A member as train() would start it, or continue it from ``checkpoint``; and its saved
    optimizer state (loaded once the population's optimizer exists)."""
    tc = config.train
    torch.manual_seed(tc.seed)  # its initial weights come from its own seed, as in train()
    member = _Member(
        config,
        build_model(config.model, splits.input_shape, splits.n_classes).to(device),
        torch.Generator(device=device).manual_seed(tc.seed),
        callbacks,
        checkpoint,
        Plateau(tc.schedule) if isinstance(tc.schedule, PlateauSchedule) else None,
        EarlyStopping(tc.early_stopping) if tc.early_stopping else None,
    )
    saved = checkpoint.load() if checkpoint else None
    if saved is None:
        return member, None
    member.model.load_state_dict(saved["model"])
    member.best_state = restore_loop_state(
        saved, member.order, member.plateau, member.stopper, member.history, device
    )
    member.epoch = member.resumed_from = saved["epoch"]
    member.first_step, member.earlier_time = saved["step"], saved["train_time"]
    return member, saved["optimizer"]["state"]


def train_population(
    configs: Sequence[RunConfig],
    splits: Splits,
    callbacks: Sequence[Sequence[EpochCallback]] | None = None,
    device: str | torch.device | None = None,
    checkpoints: Sequence[Checkpointer | None] | None = None,
) -> list[TrainResult]:
    """Train ``configs`` (same :func:`population_key`) together; one result per configuration.

    MLPs of different architectures (same key with ``pad="any"``) train padded to one shape. With
    ``checkpoints`` (one per member, or None), each member's state is saved after its epochs as
    :func:`~tunelab.train.loop.train` saves a lone run's, and a member that finds a saved state
    continues from it, alone or in any population.
    """
    pad = differ([c.model for c in configs])
    if len({population_key(c, "any" if pad else "none") for c in configs}) != 1:
        raise ValueError("these configurations cannot train as one population (see population_key)")
    first = configs[0].train
    device = resolve_device(first.device) if device is None else torch.device(device)
    prepare_device(device)
    splits = splits.to(device)
    started = [
        _member(c, splits, device, cbs, ckpt)
        for c, cbs, ckpt in zip(
            configs, callbacks or [[]] * len(configs), checkpoints or [None] * len(configs), strict=True
        )
    ]
    members = [member for member, _ in started]
    models = [m.model for m in members]

    nets = (
        padded_mlps([c.model for c in configs], models, splits.input_shape, splits.n_classes)
        if pad
        else models
    )
    params, buffers = stack_module_state(nets)
    params = {k: p.detach().requires_grad_(True) for k, p in params.items()}
    base = copy.deepcopy(nets[0]).to("meta")
    forward = vmap(lambda p, b, x: functional_call(base, (p, b), (x,)), randomness="different")
    optimizer = PopulationOptimizer(params, [c.train.optimizer for c in configs])
    shapes = [{k: v.shape for k, v in model.named_parameters()} for model in models]
    for row, (_, optimizer_state) in enumerate(started):
        if optimizer_state is not None:
            optimizer.load(row, optimizer_state, shapes[row])
    # no autocast cache: a CUDA graph cannot capture one (and each weight is cast once a step anyway)
    autocast = torch.autocast(
        device.type, dtype=torch.bfloat16, enabled=first.precision == "bf16", cache_enabled=False
    )
    # mean |g| of a layer divides by the member's own size of it; 0: the member lacks that layer
    layer_names = [f"{name}.weight" for name in weight_layers(nets[0])] if first.track_gradients else []
    all_sizes = torch.tensor(
        [[s[n].numel() if n in s else 0 for n in layer_names] for s in shapes], device=device
    )
    max_norms = torch.tensor([c.train.grad_clip or math.inf for c in configs], device=device)
    clip = any(c.train.grad_clip is not None for c in configs)
    n_train, batch_size = len(splits.y_train), first.batch_size
    steps_per_epoch = math.ceil(n_train / batch_size)
    train_time = 0.0
    step = 0  # steps of this call; a resumed member adds its first_step
    slots = list(range(len(members)))  # the member in each row of the stacked tensors

    def member_state(m: int) -> dict[str, torch.Tensor]:
        row = slots.index(m)
        state = {k: v[row].detach().clone() for k, v in (params | buffers).items()}
        return unpad_state(state, models[m]) if pad else state

    def checkpoint_state(m: int, row: int) -> dict[str, Any]:
        """Member ``m`` (in ``row``) as train() checkpoints a lone run, to continue alone or not."""
        member = members[m]
        groups = make_optimizer(list(member.model.parameters()), member.config.train.optimizer)
        optimizer_state = {
            "state": optimizer.export(row, shapes[m]),
            "param_groups": groups.state_dict()["param_groups"],
        }
        return loop_state(
            member.epoch,
            member.first_step + step,
            member.earlier_time + train_time,
            member_state(m),
            optimizer_state,
            member.order,
            member.plateau,
            member.stopper,
            member.history,
            member.best_state,
        )

    def epoch_rates() -> list[tuple[float, ...]]:
        """Each member's learning rate (a column per row of ``slots``) at each step of this epoch."""
        columns = []
        for m in slots:
            member, c = members[m], members[m].config.train
            scale = member.plateau.scale if member.plateau else 1.0
            first, total = member.first_step + step, steps_per_epoch * c.epochs
            rates = lr_steps(c.schedule, c.optimizer.lr, first, steps_per_epoch, steps_per_epoch, total)
            columns.append([rate * scale for rate in rates])
        return list(zip(*columns, strict=True))

    def train_step(index: torch.Tensor, lrs: Sequence[float] | torch.Tensor, sums: _Sums) -> None:
        """One step of every member on the batch rows ``index`` (members × batch)."""
        x, y = splits.x_train[index], splits.y_train[index]
        with autocast:
            logits = forward(params, buffers, x)
        losses = (
            F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), reduction="none")
            .view(len(index), -1)
            .mean(1)
        )
        # contiguous: vmap's gradients can be strided; torch 2.13's fused CPU optimizers misread them
        grads = [g.contiguous() for g in torch.autograd.grad(losses.sum(), list(params.values()))]
        if clip:
            grads = _clip_per_member(grads, sums.max_norms)
        if layer_names:  # mean |g| of each member's layer: its L1 norm over the layer's size
            by_name = dict(zip(params, grads, strict=True))
            norms = [torch.linalg.vector_norm(by_name[n].flatten(1), 1, dim=1) for n in layer_names]
            sums.grads += torch.stack(norms, dim=1) / sums.sizes
        optimizer.step(grads, lrs)
        sums.loss += losses.detach() * index.shape[1]
        sums.correct += (logits.argmax(dim=2) == y).sum(dim=1)

    eval_batch = eval_batch_size(nets[0], splits.x_val, first.eval_batch_size, members=len(nets))
    # reduce-overhead: every full batch replays one captured step (rmsprop's unfused step cannot be)
    graphs = first.compile_mode() == "reduce-overhead" and optimizer.fused
    sums, graph = None, None  # rebuilt when members leave: a graph holds the tensors it captured
    while slots:
        base.train()
        start = time.perf_counter()
        if sums is None:
            sums = _Sums.zeros(all_sizes[slots].clamp(min=1), max_norms[slots])
            graph = _StepGraph(train_step, sums, (len(slots), batch_size), device) if graphs else None
        sums.zero_()
        perms = torch.stack(
            [torch.randperm(n_train, generator=members[m].order, device=device) for m in slots]
        )
        rates = epoch_rates()
        if graph:  # the epoch's learning rates, read by the captured step from the device
            graph.schedule(rates)
        for begin in range(0, n_train, batch_size):
            index = perms[:, begin : begin + batch_size]
            if graph and index.shape[1] == batch_size:
                graph(index, begin // batch_size)
            else:  # a shorter last batch runs uncaptured
                train_step(index, rates[begin // batch_size], sums)
            step += 1
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
        train_time += seconds

        base.eval()
        with autocast:
            val_loss, val_acc = _evaluate_population(forward, params, buffers, splits, eval_batch)
        train_loss, train_acc = (sums.loss / n_train).tolist(), (sums.correct.double() / n_train).tolist()
        grad_means = (sums.grads / steps_per_epoch).tolist()
        finished = []
        for row, m in enumerate(slots):
            member, tc = members[m], members[m].config.train
            member.epoch += 1
            record = {
                "epoch": member.epoch,
                "train_loss": train_loss[row],
                "train_accuracy": train_acc[row],
                "val_loss": val_loss[row],
                "val_accuracy": val_acc[row],
                "lr": rates[0][row],
                "time_s": seconds,
            }
            sized = zip(layer_names, grad_means[row], all_sizes[m].tolist(), strict=True)
            record |= {f"grad_{n.removesuffix('.weight')}": g for n, g, size in sized if size}
            if member.epoch - 1 == member.resumed_from:
                record["resumed"] = 1.0  # the history shows where a rerun picked up
            member.history.append(record)
            verdict, improved = end_of_epoch(
                member.epoch, record, tc.optimizer.lr, member.plateau, member.stopper, member.callbacks
            )
            if improved and tc.early_stopping and tc.early_stopping.restore_best:
                member.best_state = member_state(m)
            if verdict:
                member.status, member.reason = verdict
            if verdict or member.epoch == tc.epochs:
                finished.append(row)
                member.final_state = member_state(m)
            elif member.checkpoint and member.checkpoint.due():  # copies every member's state: only when kept
                member.checkpoint.save(checkpoint_state(m, row))
        if finished:  # finished members leave: pruning and early stopping save work
            keep = [row for row in range(len(slots)) if row not in finished]
            params = {k: v[keep].detach().requires_grad_(True) for k, v in params.items()}
            buffers = {k: v[keep] for k, v in buffers.items()}
            optimizer.keep(keep, params)
            slots = [slots[row] for row in keep]
            sums = None
    return [_result(member, splits, train_time, device) for member in members]


def _result(member: _Member, splits: Splits, train_time: float, device: torch.device) -> TrainResult:
    """A finished member's result: its best (or last) weights, measured on validation and test."""
    model, state, stopper = member.model, member.best_state or member.final_state, member.stopper
    assert state is not None  # every member ends with a final state
    model.load_state_dict(state)
    batch, diverged = member.config.train.eval_batch_size, member.status == "diverged"
    return TrainResult(
        status=member.status,
        reason=member.reason,
        history=member.history,
        val=None if diverged else evaluate(model, splits.x_val, splits.y_val, splits.n_classes, batch),
        test=None if diverged else evaluate(model, splits.x_test, splits.y_test, splits.n_classes, batch),
        model=model,
        best_epoch=stopper.best_epoch if stopper and stopper.best_epoch else len(member.history),
        train_time_s=member.earlier_time + train_time,
        device=str(device),
        n_parameters=count_parameters(model),
        checksums=dict(splits.checksums),
        resumed_from=member.resumed_from,
    )


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


@torch.no_grad()
def _evaluate_population(
    forward: Any,
    params: dict[str, torch.Tensor],
    buffers: dict[str, torch.Tensor],
    splits: Splits,
    batch: int,
) -> tuple[list[float], list[float]]:
    n = len(splits.y_val)
    loss = torch.zeros(len(next(iter(params.values()))), device=splits.y_val.device, dtype=torch.float64)
    correct = torch.zeros_like(loss)
    for begin in range(0, n, batch):
        x, y = splits.x_val[begin : begin + batch], splits.y_val[begin : begin + batch]
        logits = forward(params, buffers, x.expand(len(loss), *x.shape)).float()
        target = y.expand(len(loss), -1)
        loss += (
            F.cross_entropy(logits.flatten(0, 1), target.flatten(), reduction="none")
            .view(len(loss), -1)
            .sum(1)
            .double()
        )
        correct += (logits.argmax(dim=2) == target).sum(dim=1).double()
    return (loss / n).tolist(), (correct / n).tolist()
