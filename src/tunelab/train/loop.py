"""Train one configuration and measure it: the loop reads top to bottom.

The dataset lives on the device; each epoch's batches are index slices of one ``randperm``. Losses,
accuracies and gradient magnitudes accumulate in device tensors and are read once per epoch, so a GPU
never waits on the host inside an epoch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import torch
import torch.nn.functional as F
from torch import nn

from tunelab.config import OptimizerConfig, PlateauSchedule, RunConfig
from tunelab.data import Splits
from tunelab.models import LocallyConnected2d, build_model, count_parameters
from tunelab.train.allocator import keep_freed_memory
from tunelab.train.callbacks import EarlyStopping, EpochCallback
from tunelab.train.checkpoint import Checkpointer
from tunelab.train.metrics import Metrics, confusion_matrix, metrics_from_confusion
from tunelab.train.schedules import Plateau, lr_at

Status = Literal["completed", "early_stopped", "stopped", "diverged"]


@dataclass
class TrainResult:
    """What one run produced. ``history`` has one record per finished epoch."""

    status: Status
    reason: str | None
    history: list[dict[str, float]]
    val: Metrics | None
    test: Metrics | None
    model: nn.Module
    best_epoch: int
    train_time_s: float
    device: str
    n_parameters: int
    checksums: dict[str, str] = field(default_factory=dict)
    resumed_from: int | None = None  # the last epoch of a checkpoint this run continued from

    def summary(self) -> dict[str, object]:
        """Final scalars, as ``tunelab train --json`` prints them."""
        out: dict[str, object] = {
            "status": self.status,
            "reason": self.reason,
            "epochs": len(self.history),
            "best_epoch": self.best_epoch,
            "train_time_s": round(self.train_time_s, 3),
            "device": self.device,
            "n_parameters": self.n_parameters,
            "resumed_from": self.resumed_from,
        }
        for split, metrics in (("val", self.val), ("test", self.test)):
            for key, value in (metrics.summary() if metrics else {}).items():
                out[f"{split}_{key}"] = value
        return out


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks cuda, then mps, then cpu."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def prepare_device(device: torch.device) -> None:
    """The process-wide settings both training loops run under on ``device``."""
    if device.type == "cuda":  # TF32 tensor cores: ~fp32 accuracy for a classifier, several times faster
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    elif device.type == "cpu":  # no page faults for the tensors each step frees and allocates again
        keep_freed_memory()


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


def weight_layers(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weight of every dense, convolutional and locally-connected layer, by module name."""
    kinds = (nn.Linear, nn.Conv2d, LocallyConnected2d)
    return {name: module.weight for name, module in model.named_modules() if isinstance(module, kinds)}


EVAL_BYTES = 128 * 2**20  # a CPU evaluates fastest with about this much layer output per batch


def eval_batch_size(
    model: nn.Module, x: torch.Tensor, configured: int | None = None, members: int = 1
) -> int:
    """Images per evaluation batch of ``model`` (``members`` networks at once) on ``x``: ``configured``,
    else 4096 off a CPU, and on a CPU as many as keep all its layers' outputs near 128 MB. Batches
    larger than that spend their time in page faults: a CNN evaluates 2.6× faster on a CPU at 64
    images a batch than at 4096 (BENCHMARKS.md), an MLP fastest at 4096."""
    if configured is not None:
        return configured
    if x.device.type != "cpu":
        return 4096
    total = 0

    def count(module: nn.Module, inputs: Any, output: Any) -> None:
        nonlocal total
        if isinstance(output, torch.Tensor):
            total += output.numel() * output.element_size()

    hooks = [m.register_forward_hook(count) for m in model.modules() if not any(m.children())]
    training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x[:1])
    finally:
        for hook in hooks:
            hook.remove()
        model.train(training)
    fits = EVAL_BYTES // max(1, total * members)
    return min(4096, max(32, 2 ** int(math.log2(max(1, fits)))))


@torch.no_grad()
def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, n_classes: int, batch_size: int | None = None
) -> Metrics:
    """Loss, accuracy, precision/recall/F1 and confusion matrix of ``model`` on ``(x, y)``, in batches
    of ``batch_size`` images (default: :func:`eval_batch_size`)."""
    batch_size = eval_batch_size(model, x, batch_size)
    model.eval()
    loss_sum = torch.zeros((), device=x.device, dtype=torch.float64)
    confusion = torch.zeros(n_classes, n_classes, dtype=torch.long, device=x.device)
    for start in range(0, len(y), batch_size):
        logits = model(x[start : start + batch_size]).float()
        target = y[start : start + batch_size]
        loss_sum += F.cross_entropy(logits, target, reduction="sum").double()
        confusion += confusion_matrix(target, logits.argmax(dim=1), n_classes)
    loss = loss_sum.item() / max(1, len(y))
    return metrics_from_confusion(confusion.cpu().numpy(), loss)


def train(
    config: RunConfig,
    splits: Splits,
    callbacks: Sequence[EpochCallback] = (),
    device: str | torch.device | None = None,
    checkpoint: Checkpointer | None = None,
) -> TrainResult:
    """Train ``config`` on ``splits``; never raises for a diverging run (status ``diverged``).

    With a ``checkpoint``, the state is saved after every epoch, and a run that finds a saved state
    continues from it: same weights, optimizer, schedule, early stopping, RNG streams and history.
    """
    tc = config.train
    device = resolve_device(tc.device) if device is None else torch.device(device)
    splits = splits.to(device)
    torch.manual_seed(tc.seed)  # the same seed gives the same initial weights, batches and dropout masks
    model = build_model(config.model, splits.input_shape, splits.n_classes).to(device)
    optimizer = make_optimizer(list(model.parameters()), tc.optimizer)
    prepare_device(device)
    # reduce-overhead: CUDA graphs for the compiled forward and backward on a GPU (few launches per step)
    mode = tc.compile_mode()
    forward = torch.compile(model, mode=mode) if mode else model
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=tc.precision == "bf16")
    order = torch.Generator(device=device).manual_seed(tc.seed)

    n_train = len(splits.y_train)
    steps_per_epoch = math.ceil(n_train / tc.batch_size)
    total_steps = steps_per_epoch * tc.epochs
    plateau = Plateau(tc.schedule) if isinstance(tc.schedule, PlateauSchedule) else None
    stopper = EarlyStopping(tc.early_stopping) if tc.early_stopping else None
    layers = weight_layers(model) if tc.track_gradients else {}
    eval_batch = eval_batch_size(model, splits.x_val, tc.eval_batch_size)  # once: its probe runs the model
    layer_sizes = torch.tensor([w.numel() for w in layers.values()], device=device, dtype=torch.float32)

    history: list[dict[str, float]] = []
    best_state: dict[str, torch.Tensor] | None = None
    status: Status = "completed"
    reason: str | None = None
    step = 0
    train_time = 0.0
    saved = checkpoint.load() if checkpoint else None
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        torch.set_rng_state(saved["torch_rng"])
        if saved["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(saved["cuda_rng"])
        best_state = restore_loop_state(saved, order, plateau, stopper, history, device)
        step, train_time = saved["step"], saved["train_time"]
    resumed_from = saved["epoch"] if saved is not None else None
    for epoch in range(len(history) + 1, tc.epochs + 1):
        model.train()
        start = time.perf_counter()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        grad_sum = torch.zeros(len(layers), device=device)
        scale = plateau.scale if plateau else 1.0
        epoch_lr = lr_at(tc.schedule, tc.optimizer.lr, step, steps_per_epoch, total_steps) * scale
        for batch in torch.randperm(n_train, generator=order, device=device).split(tc.batch_size):
            lr = lr_at(tc.schedule, tc.optimizer.lr, step, steps_per_epoch, total_steps) * scale
            for group in optimizer.param_groups:
                group["lr"] = lr
            x, y = splits.x_train[batch], splits.y_train[batch]
            with autocast:
                logits = forward(x)
            loss = F.cross_entropy(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if tc.grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
            if layers:
                grads = [cast(torch.Tensor, w.grad) for w in layers.values()]  # each has one now
                grad_sum += torch.stack(torch._foreach_norm(grads, 1)) / layer_sizes  # mean |g| per layer
            optimizer.step()
            loss_sum += loss.detach() * len(batch)
            correct += (logits.argmax(dim=1) == y).sum()
            step += 1
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
        train_time += seconds

        train_loss = loss_sum.item() / n_train
        val = evaluate(model, splits.x_val, splits.y_val, splits.n_classes, eval_batch)
        record = {
            "epoch": epoch,
            "train_loss": train_loss,
            "train_accuracy": correct.item() / n_train,
            "val_loss": val.loss,
            "val_accuracy": val.accuracy,
            "lr": epoch_lr,
            "time_s": seconds,
        }
        record |= {
            f"grad_{name}": g for name, g in zip(layers, (grad_sum / steps_per_epoch).tolist(), strict=True)
        }
        if epoch - 1 == resumed_from:
            record["resumed"] = 1.0  # the history shows where a rerun picked up
        history.append(record)

        verdict, improved = end_of_epoch(epoch, record, tc.optimizer.lr, plateau, stopper, callbacks)
        if improved and stopper and stopper.config.restore_best:
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if verdict:
            status, reason = verdict
            break
        if checkpoint and epoch < tc.epochs and checkpoint.due():
            checkpoint.save(
                loop_state(
                    epoch,
                    step,
                    train_time,
                    model.state_dict(),
                    optimizer.state_dict(),
                    order,
                    plateau,
                    stopper,
                    history,
                    best_state,
                )
            )

    best_epoch = stopper.best_epoch if stopper and stopper.best_epoch else len(history)
    if best_state is not None:
        model.load_state_dict(best_state)
    final_val = final_test = None
    if status != "diverged":
        final_val = evaluate(model, splits.x_val, splits.y_val, splits.n_classes, eval_batch)
        final_test = evaluate(model, splits.x_test, splits.y_test, splits.n_classes, eval_batch)
    return TrainResult(
        status=status,
        reason=reason,
        history=history,
        val=final_val,
        test=final_test,
        model=model,
        best_epoch=best_epoch,
        train_time_s=train_time,
        device=str(device),
        n_parameters=count_parameters(model),
        checksums=dict(splits.checksums),
        resumed_from=resumed_from,
    )


def end_of_epoch(
    epoch: int,
    record: dict[str, float],
    base_lr: float,
    plateau: Plateau | None,
    stopper: EarlyStopping | None,
    callbacks: Sequence[EpochCallback],
) -> tuple[tuple[Status, str] | None, bool]:
    """An epoch's bookkeeping: divergence, plateau, early stopping, callbacks, in that order.

    Returns ``(status, reason)`` when the run stops now (else None) and whether the monitored metric
    improved (the caller keeps the best weights then).
    """
    names = {"train_loss": "train loss", "val_loss": "validation loss"}
    bad = [f"{name} became {record[key]}" for key, name in names.items() if not math.isfinite(record[key])]
    if bad:
        return ("diverged", f"{bad[0]} at epoch {epoch}"), False
    if plateau:
        plateau.update(record[plateau.config.monitor], base_lr)
    improved = False
    if stopper:
        improved = stopper.improved(epoch, record)
        if stopper.should_stop:
            return (
                "early_stopped",
                f"no {stopper.config.monitor} improvement for {stopper.wait} epochs",
            ), improved
    if any([callback(epoch, record) for callback in callbacks]):  # every callback sees every epoch
        return ("stopped", f"stopped by a callback after epoch {epoch}"), improved
    return None, improved


def loop_state(
    epoch: int,
    step: int,
    train_time: float,
    model_state: dict[str, torch.Tensor],
    optimizer_state: dict[str, Any],
    order: torch.Generator,
    plateau: Plateau | None,
    stopper: EarlyStopping | None,
    history: list[dict[str, float]],
    best_state: dict[str, torch.Tensor] | None,
) -> dict[str, Any]:
    """Everything the loop needs to continue after ``epoch`` exactly as if it had not stopped.

    ``model_state`` and ``optimizer_state`` are a lone run's ``state_dict()``s: a population saves
    its members in the same form, so either loop continues from either's checkpoint.
    """
    return {
        "epoch": epoch,
        "step": step,
        "train_time": train_time,
        "model": model_state,
        "optimizer": optimizer_state,
        "order_rng": order.get_state(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "plateau": [plateau.scale, plateau.best, plateau.wait] if plateau else None,
        "stopper": [stopper.best, stopper.best_epoch, stopper.wait] if stopper else None,
        "history": history,
        "best_state": best_state,
    }


def restore_loop_state(
    saved: dict[str, Any],
    order: torch.Generator,
    plateau: Plateau | None,
    stopper: EarlyStopping | None,
    history: list[dict[str, float]],
    device: torch.device,
) -> dict[str, torch.Tensor] | None:
    """Put back the batch order, schedule, early stopping and history of ``saved`` (what
    :func:`loop_state` keeps beside the weights and optimizer); returns its best weights."""
    order.set_state(saved["order_rng"])
    if plateau and saved["plateau"]:
        plateau.scale, plateau.best, plateau.wait = saved["plateau"]
    if stopper and saved["stopper"]:
        stopper.best, stopper.best_epoch, stopper.wait = saved["stopper"]
    history.extend(saved["history"])
    best = saved["best_state"]
    return {k: v.to(device) for k, v in best.items()} if best else None
