from __future__ import annotations

import itertools
import math

import pytest
import torch

from tunelab.config import (
    ConstantSchedule,
    CosineSchedule,
    ExponentialSchedule,
    OneCycleSchedule,
    PlateauSchedule,
    StepSchedule,
    TimeSchedule,
)
from tunelab.train.schedules import Plateau, lr_at, lr_steps

SPE, TOTAL = 10, 100  # steps per epoch, total steps


def lrs(schedule, base=0.1):
    return [lr_at(schedule, base, s, SPE, TOTAL) for s in range(TOTAL)]


def test_constant():
    assert set(lrs(ConstantSchedule())) == {0.1}


def test_step_decays_every_step_size_epochs():
    values = lrs(StepSchedule(step_size=3, gamma=0.5))
    assert values[0] == values[29] == 0.1
    assert values[30] == pytest.approx(0.05)
    assert values[60] == pytest.approx(0.025)


def test_exponential_decays_per_epoch():
    values = lrs(ExponentialSchedule(gamma=0.9))
    assert values[SPE - 1] == 0.1
    assert values[5 * SPE] == pytest.approx(0.1 * 0.9**5)


def test_time_decay_is_keras_per_step():
    values = lrs(TimeSchedule(decay=0.01))
    assert values[0] == 0.1
    assert values[50] == pytest.approx(0.1 / 1.5)


def test_cosine_runs_from_lr_to_min_lr():
    values = lrs(CosineSchedule(min_lr=0.001))
    assert values[0] == pytest.approx(0.1)
    assert values[-1] == pytest.approx(0.001)
    assert all(a >= b for a, b in itertools.pairwise(values))


def test_cosine_warmup_rises_linearly():
    values = lrs(CosineSchedule(warmup_epochs=1))
    assert values[0] == pytest.approx(0.01)
    assert values[SPE - 1] == pytest.approx(0.1)
    assert values[:SPE] == sorted(values[:SPE])


def test_one_cycle_matches_torch():
    schedule = OneCycleSchedule(pct_start=0.3, div_factor=25, final_div_factor=1e4)
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=0.1)
    torch_sched = torch.optim.lr_scheduler.OneCycleLR(
        opt,
        max_lr=0.1,
        total_steps=TOTAL,
        pct_start=0.3,
        div_factor=25,
        final_div_factor=1e4,
        cycle_momentum=False,
    )
    expected = []
    for _ in range(TOTAL):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        torch_sched.step()
    assert lrs(schedule) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    "schedule",
    [
        ConstantSchedule(),
        StepSchedule(step_size=3, gamma=0.5),
        ExponentialSchedule(gamma=0.9),
        TimeSchedule(decay=0.01),
        CosineSchedule(min_lr=0.001, warmup_epochs=1),
        OneCycleSchedule(),
        PlateauSchedule(),
    ],
    ids=lambda s: type(s).__name__,
)
@pytest.mark.parametrize("first", [0, 7, 20, 95])  # 7, 95: not at an epoch's start; 95: past the end
def test_lr_steps_is_lr_at_for_each_step(schedule, first):
    expected = [lr_at(schedule, 0.1, s, SPE, TOTAL) for s in range(first, first + 2 * SPE + 3)]
    assert lr_steps(schedule, 0.1, first, 2 * SPE + 3, SPE, TOTAL) == expected


def test_plateau_reduces_after_patience_flat_epochs():
    plateau = Plateau(PlateauSchedule(monitor="val_loss", factor=0.5, patience=2, min_lr=0.01))
    for value in (1.0, 0.9, 0.9):
        plateau.update(value, base_lr=0.1)
    assert plateau.scale == 1.0  # one flat epoch: not yet
    plateau.update(0.9, base_lr=0.1)
    assert plateau.scale == 0.5
    for _ in range(20):
        plateau.update(0.9, base_lr=0.1)
    assert plateau.scale == pytest.approx(0.1)  # floored at min_lr / base_lr


def test_plateau_on_accuracy_maximises():
    plateau = Plateau(PlateauSchedule(monitor="val_accuracy", factor=0.5, patience=1))
    plateau.update(0.5, 0.1)
    plateau.update(0.6, 0.1)
    assert plateau.scale == 1.0
    plateau.update(0.55, 0.1)
    assert plateau.scale == 0.5
    assert not math.isinf(plateau.best)
