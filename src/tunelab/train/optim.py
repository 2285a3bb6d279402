"""The optimizers: a lone run's ``torch.optim`` one, and a population's over its stacked parameters."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn
from torch.optim import adam, rmsprop, sgd

from tunelab.config import OptimizerConfig


def make_optimizer(params: Sequence[nn.Parameter], cfg: OptimizerConfig) -> torch.optim.Optimizer:
    """The configured optimizer; SGD, Adam and AdamW use PyTorch's fused kernels where they exist."""
    eps = 1e-8 if cfg.eps is None else cfg.eps  # 1e-8: torch's default for Adam, AdamW and RMSprop
    # One fused kernel instead of a dozen per parameter: 4x faster Adam steps on a CPU (BENCHMARKS.md).
    # None, not False, elsewhere: torch.optim reads fused=False as "no foreach either".
    fused = True if params and params[0].device.type in ("cpu", "cuda") else None
    match cfg.name:
        case "sgd":
            return torch.optim.SGD(
                params,
                lr=cfg.lr,
                momentum=cfg.momentum,
                nesterov=cfg.nesterov,
                weight_decay=cfg.weight_decay,
                fused=fused,
            )
        case "adam":
            return torch.optim.Adam(
                params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay, eps=eps, fused=fused
            )
        case "adamw":
            return torch.optim.AdamW(
                params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay, eps=eps, fused=fused
            )
        case "rmsprop":
            return torch.optim.RMSprop(
                params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, eps=eps
            )
    raise AssertionError(cfg.name)


class FusedAdamStep:
    """A lone run's fused Adam or AdamW step, called straight into torch's kernel.

    ``optimizer.step()`` spends about 0.3 ms a call on a CPU in Python before its one fused kernel
    (grouping the tensors by device and dtype, re-reading every group's settings, the profiler's
    record_function): 4% of a batch-32 step of paper 000's MLPs (``benchmarks/step_profile.py``).
    This makes the same two calls it makes (``_foreach_add_`` of the step counts, then
    ``_fused_adam_``/``_fused_adamw_``) with the same arguments on the optimizer's own state
    tensors, so the arithmetic and ``state_dict()`` are those of ``optimizer.step()``. The first
    step, one after :meth:`forget` (a loaded state) and one where a parameter has no gradient go
    through ``optimizer.step()`` itself.
    """

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.optimizer = optimizer
        self._groups: list[tuple[list[torch.Tensor], list[list[torch.Tensor]], dict[str, Any]]] | None = None

    @staticmethod
    def applies(optimizer: torch.optim.Optimizer) -> bool:
        """Whether ``optimizer`` is a fused Adam/AdamW whose step this can make (no AMSGrad,
        nothing torch.optim treats specially)."""
        if type(optimizer) not in (torch.optim.Adam, torch.optim.AdamW):
            return False
        return all(
            g["fused"] and not (g["amsgrad"] or g["maximize"] or g["capturable"] or g["differentiable"])
            for g in optimizer.param_groups
        )

    def forget(self) -> None:
        """Drop the cached state lists (after ``load_state_dict`` replaced the state tensors)."""
        self._groups = None

    def _cache(self) -> None:
        """The state lists of every group, or None while some parameter has no state yet."""
        groups = []
        for group in self.optimizer.param_groups:
            params = list(group["params"])
            states = [self.optimizer.state.get(p) or {} for p in params]
            if not all("exp_avg" in s for s in states):
                self._groups = None  # a parameter torch.optim has not stepped yet: it goes on doing so
                return
            lists = [[s[k] for s in states] for k in ("exp_avg", "exp_avg_sq", "step")]
            groups.append((params, lists, group))
        self._groups = groups

    @torch.no_grad()
    def __call__(self, lr: float) -> None:
        """One step with learning rate ``lr`` (also written to every group, as the engine did)."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        groups = self._groups
        grads = [[p.grad for p in params] for params, _, _ in groups] if groups else None
        if groups is None or grads is None or any(g is None for gs in grads for g in gs):
            self.optimizer.step()  # the first step creates the state; torch.optim skips missing grads
            self._cache()
            return
        for (params, (exp_avgs, exp_avg_sqs, steps), group), member in zip(groups, grads, strict=True):
            torch._foreach_add_(steps, 1)
            kernel = torch._fused_adamw_ if group["decoupled_weight_decay"] else torch._fused_adam_
            beta1, beta2 = group["betas"]
            kernel(
                params,
                member,  # type: ignore[arg-type]
                exp_avgs,
                exp_avg_sqs,
                [],
                steps,
                amsgrad=False,
                lr=lr,
                beta1=beta1,
                beta2=beta2,
                weight_decay=group["weight_decay"],
                eps=group["eps"],
                maximize=False,
                grad_scale=None,
                found_inf=None,
            )


_TORCH = {"momentum": "momentum_buffer"}  # torch.optim's names for a member's state
_KINDS = {v: k for k, v in _TORCH.items()}


class PopulationOptimizer:
    """SGD, Adam, AdamW or RMSprop over stacked parameters, each member with its own learning rate,
    momentum, betas, epsilon and weight decay.

    Each member's slice of the stacked tensors goes through ``torch.optim``'s own functional step,
    fused where the single-run loop's optimizer is (:func:`make_optimizer`): a
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
