"""StochasticWeightAveraging ends with the same weights, learning rates and counters as Lightning's."""

import importlib
from types import ModuleType
from typing import Any

import pytest
import torch
from torch import nn
from torch.optim.swa_utils import SWALR
from torch.utils.data import DataLoader

import shim
from shim.callbacks.stochastic_weight_avg import StochasticWeightAveraging
from shim.utilities.exceptions import MisconfigurationException


def _ema(averaged: torch.Tensor, current: torch.Tensor, num_averaged: torch.Tensor | int) -> torch.Tensor:
    return 0.7 * averaged + 0.3 * current


def _sgd_step_lr(model: nn.Module) -> Any:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return [optimizer], [torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)]


def _adam_two_groups(model: nn.Module) -> Any:
    first, *rest = model.parameters()
    return torch.optim.Adam([{"params": [first], "lr": 0.01}, {"params": rest, "lr": 0.005}])


def _sgd(model: nn.Module) -> Any:
    return torch.optim.SGD(model.parameters(), lr=0.02)


# (name, batch norm, SWA kwargs, Trainer kwargs, configure_optimizers)
CASES: list[tuple[str, bool, dict[str, Any], dict[str, Any], Any]] = [
    (
        "int-start-swaps-scheduler",
        False,
        {"swa_lrs": 0.05, "swa_epoch_start": 2, "annealing_epochs": 2},
        {},
        _sgd_step_lr,
    ),
    ("fraction-start-linear", False, {"swa_lrs": 0.03, "annealing_strategy": "linear"}, {"max_epochs": 5}, _sgd),
    ("lr-per-group", False, {"swa_lrs": [0.02, 0.01], "swa_epoch_start": 0.5}, {}, _adam_two_groups),
    ("custom-avg-fn", False, {"swa_lrs": 0.05, "swa_epoch_start": 2, "avg_fn": _ema}, {}, _sgd),
    ("start-at-first-epoch", False, {"swa_lrs": 0.05, "swa_epoch_start": 1, "annealing_epochs": 1}, {}, _sgd),
    ("no-epoch-limit", False, {"swa_lrs": 0.05, "swa_epoch_start": 2}, {"max_epochs": -1, "max_steps": 14}, _sgd),
    ("batch-norm", True, {"swa_lrs": 0.05, "swa_epoch_start": 2, "annealing_epochs": 2}, {}, _sgd_step_lr),
    ("batch-norm-fraction", True, {"swa_lrs": 0.04, "swa_epoch_start": 0.5}, {"max_epochs": 5}, _sgd),
    ("batch-norm-accumulate", True, {"swa_lrs": 0.05, "swa_epoch_start": 3}, {"accumulate_grad_batches": 2}, _sgd),
]


def _run(pkg: ModuleType, case: str) -> dict[str, Any]:
    _, batch_norm, swa_kwargs, trainer_kwargs, configure = next(c for c in CASES if c[0] == case)
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")
    swa_cls = importlib.import_module(f"{pkg.__name__}.callbacks.stochastic_weight_avg").StochasticWeightAveraging
    seen: list[tuple[int, int, float]] = []

    class Model(boring.BoringModel):  # type: ignore[name-defined]
        def __init__(self) -> None:
            super().__init__()
            norm = nn.BatchNorm1d(8) if batch_norm else nn.Identity()
            self.layer = nn.Sequential(nn.Linear(32, 8), norm, nn.ReLU(), nn.Linear(8, 2))

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            lrs = [group["lr"] for group in self.trainer.optimizers[0].param_groups]
            seen.append((self.current_epoch, batch_idx, *lrs))
            return super().training_step(batch, batch_idx)

        def configure_optimizers(self) -> Any:
            return configure(self)

    torch.manual_seed(0)
    swa = swa_cls(**swa_kwargs)
    trainer = pkg.Trainer(
        **{
            "max_epochs": 4,
            "logger": False,
            "enable_checkpointing": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "limit_val_batches": 0,
            "callbacks": [swa],
            **trainer_kwargs,
        }
    )
    model = Model()
    trainer.fit(model, DataLoader(boring.RandomDataset(32, 12), batch_size=3, shuffle=True))
    state = swa.state_dict()
    # the averaged model's buffers are left out: shim's AveragedModel copies the model's buffers at every update,
    # Lightning's keeps the ones of setup; only the averaged parameters ever reach the model
    parameter_names = {name for name, _ in model.named_parameters()}
    average_state = {k: v.tolist() for k, v in state.pop("average_model_state").items() if k in parameter_names}
    return {
        "final_state": {k: v.tolist() for k, v in model.state_dict().items()},
        "average_state": average_state,
        "swa_state": state,
        "steps": seen,
        "global_step": trainer.global_step,
        "current_epoch": trainer.current_epoch,
        "max_epochs": trainer.max_epochs,
        "max_batches": trainer.num_training_batches,
        "accumulate_grad_batches": trainer.accumulate_grad_batches,
        "schedulers": [type(config.scheduler).__name__ for config in trainer.lr_scheduler_configs],
        "momenta": sorted(m for m in swa.momenta.values() if m is not None),
        "bn_momentum": [m.momentum for m in model.modules() if isinstance(m, nn.BatchNorm1d)],
    }


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("case", [c[0] for c in CASES])
def test_matches_lightning(lightning: ModuleType, case: str) -> None:
    expected = _run(lightning, case)
    actual = _run(shim, case)
    assert expected["swa_state"]["n_averaged"] > 0, "the case should average something"
    assert actual == expected


@pytest.mark.filterwarnings("ignore")
def test_batch_norm_epoch_runs_forward_only() -> None:
    result = _run(shim, "batch-norm")
    # 4 epochs of 4 batches, then one statistics epoch whose batches reach training_step but step only once
    assert [epoch for epoch, *_ in result["steps"]].count(4) == 4
    assert (result["current_epoch"], result["global_step"], result["max_epochs"]) == (5, 17, 4)
    assert result["final_state"]["layer.1.num_batches_tracked"] == 4
    assert result["bn_momentum"] == [0.1]
    assert result["schedulers"] == ["SWALR"]


def test_state_dict_keys_match_lightning(lightning: ModuleType) -> None:
    ours = StochasticWeightAveraging(swa_lrs=0.1).state_dict()
    theirs = lightning.callbacks.StochasticWeightAveraging(swa_lrs=0.1).state_dict()
    assert (
        ours
        == theirs
        == {
            "n_averaged": 0,
            "latest_update_epoch": -1,
            "scheduler_state": None,
            "average_model_state": None,
        }
    )


@pytest.mark.filterwarnings("ignore")
def test_state_dict_round_trip() -> None:
    boring = importlib.import_module("shim.demos.boring_classes")
    swa = StochasticWeightAveraging(swa_lrs=0.1, swa_epoch_start=1)
    trainer = shim.Trainer(
        max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False
    )
    trainer.callbacks.append(swa)
    trainer.fit(boring.BoringModel(), DataLoader(boring.RandomDataset(32, 4)))
    state = swa.state_dict()
    assert (state["n_averaged"], state["latest_update_epoch"]) == (2, 1)
    assert set(state["average_model_state"]) == {"layer.weight", "layer.bias"}
    assert set(state["scheduler_state"]) >= {"anneal_epochs", "base_lrs", "last_epoch"}
    restored = StochasticWeightAveraging(swa_lrs=0.1)
    restored._average_model = swa._average_model  # as after `setup`
    restored.load_state_dict(state)
    assert (restored._init_n_averaged, restored._latest_update_epoch) == (2, 1)
    assert restored._scheduler_state == state["scheduler_state"]


@pytest.mark.parametrize("swa_lrs", [0, 1, -0.1, 0.0, [0.1, 0], [0.1, -0.2], [0.1, 1], "0.1", (0.1,), None])
def test_bad_swa_lrs(swa_lrs: Any) -> None:
    with pytest.raises(MisconfigurationException, match="swa_lrs"):
        StochasticWeightAveraging(swa_lrs=swa_lrs)


@pytest.mark.parametrize("swa_lrs", [0, -0.1, [0.1, 1]])
def test_bad_swa_lrs_rejected_by_lightning_too(lightning: ModuleType, swa_lrs: Any) -> None:
    from lightning_fabric.utilities.exceptions import MisconfigurationException as LightningMisconfiguration

    with pytest.raises(LightningMisconfiguration, match="swa_lrs"):
        lightning.callbacks.StochasticWeightAveraging(swa_lrs=swa_lrs)


@pytest.mark.parametrize("start", [0, -1, -0.5, 1.5])
def test_bad_swa_epoch_start(start: float) -> None:
    with pytest.raises(MisconfigurationException, match="swa_epoch_start"):
        StochasticWeightAveraging(swa_lrs=0.1, swa_epoch_start=start)


@pytest.mark.parametrize("start", [1, 7, 0.0, 0.3, 1.0])
def test_good_swa_epoch_start(start: float) -> None:
    StochasticWeightAveraging(swa_lrs=[0.1], swa_epoch_start=start)


def test_bad_avg_fn_and_device() -> None:
    with pytest.raises(MisconfigurationException, match="avg_fn"):
        StochasticWeightAveraging(swa_lrs=0.1, avg_fn=3)  # type: ignore[arg-type]
    with pytest.raises(MisconfigurationException, match="device"):
        StochasticWeightAveraging(swa_lrs=0.1, device=0)  # type: ignore[arg-type]


def _fit_boring(
    callback: StochasticWeightAveraging, configure: Any, manual: bool = False, **trainer_kwargs: Any
) -> None:
    boring = importlib.import_module("shim.demos.boring_classes")

    class Model(boring.BoringModel):  # type: ignore[name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.automatic_optimization = not manual

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            return super().training_step(batch, batch_idx) if self.automatic_optimization else None

        def configure_optimizers(self) -> Any:
            return configure(self)

    trainer = shim.Trainer(
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[callback],
        **trainer_kwargs,
    )
    trainer.fit(Model(), DataLoader(boring.RandomDataset(32, 4)))


@pytest.mark.filterwarnings("ignore")
def test_fit_start_checks() -> None:
    def two_optimizers(model: nn.Module) -> Any:
        return [torch.optim.SGD(model.parameters(), lr=0.1), torch.optim.SGD(model.parameters(), lr=0.1)]

    def two_schedulers(model: nn.Module) -> Any:
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        schedulers = [torch.optim.lr_scheduler.StepLR(optimizer, 1), torch.optim.lr_scheduler.StepLR(optimizer, 2)]
        return [optimizer], schedulers

    with pytest.raises(MisconfigurationException, match="one optimizer"):
        _fit_boring(StochasticWeightAveraging(swa_lrs=0.1), two_optimizers, manual=True, max_epochs=1)
    with pytest.raises(MisconfigurationException, match="at most one learning-rate scheduler"):
        _fit_boring(StochasticWeightAveraging(swa_lrs=0.1), two_schedulers, max_epochs=1)
    with pytest.raises(MisconfigurationException, match="max_epochs=-1"):
        _fit_boring(StochasticWeightAveraging(swa_lrs=0.1), _sgd, max_epochs=-1, max_steps=2)


@pytest.mark.filterwarnings("ignore")
def test_scheduler_is_swapped_for_swalr() -> None:
    swa = StochasticWeightAveraging(swa_lrs=0.1, swa_epoch_start=2)
    _fit_boring(swa, _sgd_step_lr, max_epochs=3)
    assert isinstance(swa._swa_scheduler, SWALR)
    assert swa.n_averaged is not None
    assert swa.n_averaged.item() == 2
