"""A user's own network: a model factory, called with the resolved ``model.params``.

A factory is any callable ``factory(input_shape, n_classes, **params) -> nn.Module`` (a function, or
an ``nn.Module`` subclass itself): ``input_shape`` is the dataset's ``(C, H, W)``, ``n_classes`` its
number of classes, and ``params`` the study file's ``model.params`` (what its space searches as
``model.params.<name>``). The network takes a batch ``(N, C, H, W)`` and returns logits ``(N,
n_classes)``. Everything a factory can get wrong is refused with one sentence naming the model:
parameters its signature does not take (when the study file is read), an exception, something other
than a module, and a wrong output shape (one batch of two blank images, before training).

Worker processes (``run --workers``) import the factories registered in the parent by reference
(``module:qualname``, or ``/path/script.py:qualname`` for a script run as ``__main__``, which
they load as ``multiprocessing``'s spawn does: without running its ``if __name__ ==
"__main__":`` block).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tunelab.errors import ConfigError, ModelError

Shape = tuple[int, int, int]
MAIN_MODULE = "__tunelab_main__"  # the name a worker gives the parent's script when it loads it


@dataclass(frozen=True)
class Factory:
    """A model factory under its ``kind``, as ``MODELS`` holds it: a builder ``(cfg, shape, n)``."""

    kind: str
    function: Callable[..., Any]
    plugin: str | None = None  # the entry point ``name = value`` it came from; None: registered

    def __call__(self, cfg: Any, input_shape: Shape, n_classes: int) -> nn.Module:
        return build(self, dict(cfg.params), input_shape, n_classes)


def build(factory: Factory, params: Mapping[str, Any], input_shape: Shape, n_classes: int) -> nn.Module:
    """The factory's network for ``(C, H, W)`` images, checked on one batch of two blank images."""
    where = f"model {factory.kind!r}"
    try:
        model = factory.function(tuple(input_shape), n_classes, **params)
    except Exception as exc:  # the user's code: any error is the model's
        raise ModelError(
            f"{where}: its factory raised {_describe(exc)} (model.params: {dict(params)})"
        ) from exc
    if not isinstance(model, nn.Module):
        raise ModelError(f"{where}: its factory returned {type(model).__name__}, not a torch.nn.Module")
    check_output(factory.kind, model, input_shape, n_classes)
    return model


def check_output(kind: str, model: nn.Module, input_shape: Shape, n_classes: int) -> None:
    """Run one batch of two blank images (eval mode, no gradient): logits of shape (2, n_classes)?"""
    first = next(model.parameters(), None)
    x = torch.zeros(2, *input_shape, device=first.device if first is not None else "cpu")
    image = "×".join(map(str, input_shape))
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x)
    except Exception as exc:
        raise ModelError(
            f"model {kind!r}: a batch of {image} images fails in its forward: {_describe(exc)}"
        ) from exc
    finally:
        model.train(training)
    if not isinstance(out, torch.Tensor):
        expected = f"expected a tensor of logits of shape (N, {n_classes})"
        raise ModelError(f"model {kind!r} returns {type(out).__name__}, {expected}")
    if tuple(out.shape) != (2, n_classes):
        shape = ", ".join("N" if i == 0 and d == 2 else str(d) for i, d in enumerate(out.shape))
        raise ModelError(
            f"model {kind!r} returns shape ({shape}{',' if out.dim() == 1 else ''}) for {image} images, "
            f"expected (N, {n_classes}): one logit per class"
        )


def check_params(kind: str, factory: Factory, params: Mapping[str, Any]) -> None:
    """Raise ValueError when ``factory(input_shape, n_classes, **params)`` cannot be called."""
    try:
        signature = inspect.signature(factory.function)
    except (TypeError, ValueError):  # no signature to read (a builtin): the call will tell
        return
    try:
        signature.bind(None, None, **params)
        return
    except TypeError as exc:
        problem = str(exc)
    slots = list(signature.parameters.values())
    positional = [p for p in slots if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    named = [p for p in slots[2:] if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if len(positional) < 2 and not any(p.kind == p.VAR_POSITIONAL for p in slots):
        raise ValueError(f"model {kind!r}: its factory must take (input_shape, n_classes, **params)")
    takes = ", ".join(p.name for p in named) or "none"
    if not any(p.kind == p.VAR_KEYWORD for p in slots):
        unknown = [k for k in params if k not in {p.name for p in named}]
        if unknown:
            raise ValueError(f"model {kind!r} takes no parameter {unknown[0]!r} (its parameters: {takes})")
    missing = [p.name for p in named if p.default is p.empty and p.name not in params]
    if missing:
        raise ValueError(f"model {kind!r} needs the parameter {missing[0]!r}; give it in model.params")
    raise ValueError(f"model {kind!r}: its factory cannot take model.params {dict(params)} ({problem})")


# --------------------------------------------------------------------- references for worker processes
def reference(factory: Factory) -> str:
    """How a worker process imports ``factory``: ``module:qualname`` or ``/path/script.py:qualname``."""
    function = factory.function
    module = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", None)
    hint = "define it at the top level of a module, or install it as a tunelab.models plug-in"
    if not module or not qualname or "<" in qualname:  # a lambda, a nested function, an instance
        raise ConfigError(
            f"model {factory.kind!r}: worker processes cannot import its factory {function!r}; {hint}"
        )
    if module == "__main__":
        path = getattr(sys.modules["__main__"], "__file__", None)
        if path is None:
            raise ConfigError(
                f"model {factory.kind!r}: its factory was defined in an interactive session, which "
                f"worker processes cannot import; {hint}"
            )
        return f"{Path(path).resolve()}:{qualname}"
    ref = f"{module}:{qualname}"
    if resolve(ref) is not function:
        raise ConfigError(f"model {factory.kind!r}: {ref} does not name its factory {function!r}; {hint}")
    return ref


def resolve(ref: str) -> Any:
    """The object a :func:`reference` names (a script is loaded once, without its main block)."""
    where, _, qualname = ref.rpartition(":")
    try:
        if where.endswith(".py"):
            module = sys.modules.get(MAIN_MODULE)
            if module is None or getattr(module, "__file__", None) != where:
                module = _load_script(Path(where))
        else:
            module = importlib.import_module(where)
        target: Any = module
        for part in qualname.split("."):
            target = getattr(target, part)
    except Exception as exc:
        raise ConfigError(f"model factory {ref}: cannot be imported ({_describe(exc)})") from None
    return target


_loading: list[Path] = []  # the script a worker is loading now (run_study refuses to start then)


def loading_script() -> Path | None:
    """The parent's script while this worker process loads it for its factories, else None."""
    return _loading[-1] if _loading else None


def _load_script(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(MAIN_MODULE, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[MAIN_MODULE] = module
    _loading.append(path)
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[MAIN_MODULE]
        raise
    finally:
        _loading.pop()
    return module


def _describe(exc: BaseException) -> str:
    message = str(exc).splitlines()[0] if str(exc) else ""
    return f"{exc.__class__.__name__}: {message}" if message else exc.__class__.__name__
