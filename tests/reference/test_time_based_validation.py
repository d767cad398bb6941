"""A time-based ``val_check_interval`` validates when as much time passed as real Lightning 2.6.6 lets pass."""

import datetime
import importlib
import warnings
from types import ModuleType
from typing import Any
from unittest import mock

import pytest

import shim
from shim.trainer.config import parse_trainer_args
from shim.utilities.exceptions import MisconfigurationException


def _validations(pkg: ModuleType, tmp_path: Any, clock_step: int, **trainer_kwargs: Any) -> tuple[list[int], int]:
    """Validation batches seen at each train epoch end, and the calls to the (fake) clock, under ``pkg``."""
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")
    ticks = {"now": 0, "calls": 0}

    def clock() -> int:
        ticks["calls"] += 1
        ticks["now"] += clock_step
        return ticks["now"]

    class Model(boring.BoringModel):  # type: ignore[name-defined, misc]
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[int] = []

        def on_train_epoch_end(self) -> None:
            self.seen.append(self.trainer.fit_loop.epoch_loop.val_loop.batch_progress.total.completed)

    model = Model()
    with warnings.catch_warnings(), mock.patch("time.monotonic", side_effect=clock):
        warnings.simplefilter("ignore")
        trainer = pkg.Trainer(
            default_root_dir=str(tmp_path),
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            limit_val_batches=1,
            **trainer_kwargs,
        )
        trainer.fit(model)
    return model.seen, ticks["calls"]


@pytest.mark.parametrize("interval", ["00:00:00:04", {"seconds": 4}, datetime.timedelta(seconds=4)])
@pytest.mark.parametrize("check_val_every_n_epoch", [None, 1, 2])
def test_validation_runs_as_often_as_in_lightning(
    lightning: ModuleType, tmp_path: Any, interval: Any, check_val_every_n_epoch: int | None
) -> None:
    kwargs = {
        "max_epochs": 4,
        "limit_train_batches": 5,
        "val_check_interval": interval,
        "check_val_every_n_epoch": check_val_every_n_epoch,
    }
    expected = _validations(lightning, tmp_path / "pl", 1, **kwargs)
    actual = _validations(shim, tmp_path / "shim", 1, **kwargs)
    assert actual == expected
    assert sum(expected[0]) > 0


def test_the_interval_in_seconds() -> None:
    base = dict.fromkeys(("max_epochs", "min_epochs", "min_steps", "max_time", "limit_train_batches"))
    base.update(
        limit_val_batches=None, limit_test_batches=None, limit_predict_batches=None, check_val_every_n_epoch=1,
        num_sanity_val_steps=None, log_every_n_steps=None, accumulate_grad_batches=1, gradient_clip_val=None,
        gradient_clip_algorithm=None, fast_dev_run=False, deterministic=None, benchmark=None, inference_mode=True,
        detect_anomaly=False, barebones=False, reload_dataloaders_every_n_epochs=0, enable_progress_bar=None,
        enable_model_summary=None, enable_checkpointing=None, max_steps=-1,
    )  # fmt: skip
    for interval in ("00:01:00:30", {"hours": 1, "seconds": 30}, datetime.timedelta(hours=1, seconds=30)):
        config = parse_trainer_args(**base, val_check_interval=interval)  # type: ignore[arg-type]
        assert config.val_check_seconds == 3630.0
        assert config.val_check_interval == interval
    assert parse_trainer_args(**base, val_check_interval=0.5).val_check_seconds is None  # type: ignore[arg-type]
    with pytest.raises(MisconfigurationException, match="val_check_interval='1:2'"):
        parse_trainer_args(**base, val_check_interval="1:2")  # type: ignore[arg-type]


def test_a_fraction_with_batches_counted_across_epochs_is_an_error() -> None:
    with pytest.raises(MisconfigurationException, match=r"val_check_interval=0\.5 .*check_val_every_n_epoch=None"):
        shim.Trainer(val_check_interval=0.5, check_val_every_n_epoch=None)
    shim.Trainer(val_check_interval=3, check_val_every_n_epoch=None)
    shim.Trainer(val_check_interval="00:00:00:03", check_val_every_n_epoch=None)
