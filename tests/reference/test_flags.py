"""Loop-shaping flags give the same counts as Lightning: steps, epochs, validation runs, batch totals."""

import importlib
import logging
import warnings
from types import ModuleType
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

import shim

FLAG_CASES: list[dict[str, Any]] = [
    {"max_epochs": 3, "accumulate_grad_batches": 3},
    {"max_epochs": 3, "accumulate_grad_batches": 3, "max_steps": 5},
    {"max_epochs": 3, "accumulate_grad_batches": 3, "limit_train_batches": 0.5},
    {"max_epochs": 2, "val_check_interval": 0.25},
    {"max_epochs": 2, "val_check_interval": 3},
    {"max_epochs": 2, "val_check_interval": 7, "check_val_every_n_epoch": None},
    {"max_epochs": 3, "check_val_every_n_epoch": 2},
    {"max_epochs": 1, "val_check_interval": 3, "accumulate_grad_batches": 2},
    {"fast_dev_run": True, "max_epochs": 5},
    {"fast_dev_run": 3},
    {"max_epochs": -1, "max_steps": 7},
    {"max_epochs": 2, "min_steps": 25, "max_steps": 40},
    {"max_epochs": 2, "limit_train_batches": 0},
    {"max_epochs": 2, "num_sanity_val_steps": -1, "limit_val_batches": 3},
    {"max_epochs": 1, "max_time": {"days": 1}},
]


def _run(pkg: ModuleType, kwargs: dict[str, Any], tmp_path: Any) -> dict[str, Any]:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")
    seen: dict[str, Any] = {"val_runs": [], "train_batches": 0}

    class Model(boring.BoringModel):  # type: ignore[misc, name-defined]
        def on_fit_start(self) -> None:
            seen["estimated"] = self.trainer.estimated_stepping_batches

        def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
            seen["train_batches"] += 1

        def on_validation_start(self) -> None:
            if not self.trainer.sanity_checking:
                seen["val_runs"].append(
                    (self.current_epoch, self.trainer.fit_loop.epoch_loop.batch_idx, self.global_step)
                )

    torch.manual_seed(0)
    trainer = pkg.Trainer(
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
        **kwargs,
    )
    trainer.fit(
        Model(),
        DataLoader(boring.RandomDataset(32, 10)),
        DataLoader(boring.RandomDataset(32, 2)),
    )
    return {
        **seen,
        "global_step": trainer.global_step,
        "current_epoch": trainer.current_epoch,
        "num_training_batches": trainer.num_training_batches,
        "num_val_batches": list(trainer.num_val_batches),
        "num_sanity_val_batches": list(trainer.num_sanity_val_batches),
        "max_epochs": trainer.max_epochs,
        "max_steps": trainer.max_steps,
        "limit_train_batches": trainer.limit_train_batches,
        "val_check_batch": trainer.val_check_batch,
        "state": (trainer.state.fn.value, trainer.state.stage, trainer.state.status.value),
    }


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("kwargs", FLAG_CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_flags_match_lightning(lightning: ModuleType, kwargs: dict[str, Any], tmp_path: Any) -> None:
    expected = _run(lightning, kwargs, tmp_path / "pl")
    actual = _run(shim, kwargs, tmp_path / "shim")
    assert actual == expected


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("every", [2, 3])
def test_cadence_changed_at_epoch_start_matches_lightning(lightning: ModuleType, every: int, tmp_path: Any) -> None:
    # the epoch loop works out once per epoch whether that epoch validates, after `on_train_epoch_start`: a callback
    # that changes `check_val_every_n_epoch` there is honoured in the same epoch, as in Lightning
    def val_epochs(pkg: ModuleType, root: Any) -> list[int]:
        class Cadence(pkg.Callback):  # type: ignore[misc, name-defined]
            def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
                trainer.check_val_every_n_epoch = every if trainer.current_epoch == 1 else 1

        seen = _run(pkg, {"max_epochs": 4, "callbacks": [Cadence()]}, root)
        return [epoch for epoch, _, _ in seen["val_runs"]]

    expected = val_epochs(lightning, tmp_path / "pl")
    assert expected == ([0, 1, 2, 3] if every == 2 else [0, 2, 3])
    assert val_epochs(shim, tmp_path / "shim") == expected


_BAREBONES_CASES: list[dict[str, Any]] = [
    {},
    {"enable_checkpointing": True},
    {"enable_checkpointing": 0},
    {"logger": True},
    {"logger": False},
    {"enable_progress_bar": True},
    {"enable_model_summary": True},
    {"log_every_n_steps": 50},
    {"log_every_n_steps": 0},
    {"num_sanity_val_steps": 2},
    {"num_sanity_val_steps": 0},
    {"fast_dev_run": True},
    {"fast_dev_run": 0},
    {"detect_anomaly": True},
    {"profiler": "simple"},
]


@pytest.mark.parametrize(
    "kwargs", _BAREBONES_CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "none"
)
def test_barebones_accepts_and_refuses_as_lightning(lightning: ModuleType, kwargs: dict[str, Any]) -> None:
    outcomes = []
    for pkg in (lightning, shim):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                trainer = pkg.Trainer(barebones=True, **kwargs)
            except ValueError:
                outcomes.append("ValueError")
                continue
        outcomes.append(
            (trainer.log_every_n_steps, trainer.num_sanity_val_steps, trainer.loggers, len(trainer.callbacks))
        )
    assert outcomes[1] == outcomes[0]


def test_barebones_says_what_it_turned_off(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="lightning.pytorch"):
        shim.Trainer(barebones=True)
    assert "barebones=True" in caplog.text
    assert "checkpointing" in caplog.text
