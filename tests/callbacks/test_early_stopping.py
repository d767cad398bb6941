"""EarlyStopping stops at the same check as Lightning's, with the same counters, scores, messages and weights."""

import importlib
import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

import shim
from shim.callbacks.early_stopping import EarlyStopping, EarlyStoppingReason
from shim.utilities.exceptions import MisconfigurationException

NAN = float("nan")
DOWN_THEN_FLAT = [5.0, 4.0, 3.0, 3.0, 3.5, 3.2, 3.1, 2.0, 1.0, 0.5, 0.4, 0.3]
UP_THEN_FLAT = [0.1, 0.2, 0.3, 0.3, 0.25, 0.3, 0.29, 0.28, 0.9, 0.95, 0.96, 0.97]
SMALL_STEPS = [1.0, 0.95, 0.9, 0.85, 0.8, 0.2, 0.19, 0.18, 0.17, 0.16, 0.15, 0.14]

# (EarlyStopping kwargs, Trainer kwargs, metric sequence, where the metric is logged)
CASES: dict[str, tuple[dict[str, Any], dict[str, Any], list[float], str]] = {
    "patience": ({"patience": 2}, {}, DOWN_THEN_FLAT, "val"),
    "patience-never-runs-out": ({"patience": 20}, {}, DOWN_THEN_FLAT, "val"),
    "max-mode": ({"mode": "max", "patience": 3}, {}, UP_THEN_FLAT, "val"),
    "min-delta": ({"min_delta": 0.1, "patience": 2}, {}, SMALL_STEPS, "val"),
    "min-delta-max": ({"mode": "max", "min_delta": 0.05, "patience": 2}, {}, UP_THEN_FLAT, "val"),
    "stopping-threshold": ({"stopping_threshold": 2.5, "patience": 10}, {}, DOWN_THEN_FLAT, "val"),
    "divergence-threshold": ({"divergence_threshold": 3.3, "patience": 10}, {}, DOWN_THEN_FLAT, "val"),
    "divergence-max": ({"mode": "max", "divergence_threshold": 0.26, "patience": 10}, {}, UP_THEN_FLAT, "val"),
    "nan-check-finite": ({"patience": 10}, {}, [3.0, 2.0, NAN, 1.0, 0.5, 0.4], "val"),
    "nan-unchecked": ({"patience": 2, "check_finite": False}, {}, [3.0, 2.0, NAN, 1.0, NAN, NAN, 0.1], "val"),
    "inf-check-finite": ({"patience": 10}, {}, [3.0, 2.0, math.inf, 1.0, 0.5, 0.4], "val"),
    "on-validation-end": ({"patience": 2, "check_on_train_epoch_end": False}, {}, DOWN_THEN_FLAT, "val"),
    "on-train-epoch-end": ({"patience": 2, "check_on_train_epoch_end": True}, {}, DOWN_THEN_FLAT, "val"),
    "train-metric-no-val": (
        {"monitor": "train_metric", "patience": 2},
        {"limit_val_batches": 0},
        DOWN_THEN_FLAT,
        "train",
    ),
    "module-epoch-end": ({"monitor": "epoch_end_metric", "patience": 2}, {}, DOWN_THEN_FLAT, "epoch_end"),
    "val-twice-per-epoch": ({"patience": 3}, {"val_check_interval": 0.5}, DOWN_THEN_FLAT, "val"),
    "val-every-2-epochs": ({"patience": 2}, {"check_val_every_n_epoch": 2, "max_epochs": 12}, DOWN_THEN_FLAT, "val"),
    "val-every-2-train-end": (
        # odd epochs run no validation, so the metric is missing there until the first one
        {"patience": 2, "check_on_train_epoch_end": True, "strict": False},
        {"check_val_every_n_epoch": 2, "max_epochs": 12},
        DOWN_THEN_FLAT,
        "val",
    ),
    "min-epochs-delays": ({"patience": 1}, {"min_epochs": 7}, DOWN_THEN_FLAT, "val"),
    "min-steps-delays": ({"patience": 1}, {"min_steps": 20}, DOWN_THEN_FLAT, "val"),
    "not-strict-missing": (
        {"monitor": "absent", "strict": False, "verbose": True},
        {"max_epochs": 3},
        DOWN_THEN_FLAT,
        "val",
    ),
    "fast-dev-run-never-checks": (
        {"patience": 1, "divergence_threshold": 0.0},
        {"fast_dev_run": 2},
        DOWN_THEN_FLAT,
        "val",
    ),
    "verbose": ({"patience": 2, "verbose": True, "min_delta": 0.05}, {}, DOWN_THEN_FLAT, "val"),
}


@contextmanager
def _captured_messages(pkg: ModuleType) -> Iterator[list[str]]:
    """Collect what the package's early-stopping module logs at INFO level."""
    # shim logs under Lightning's names, and honours the standalone package's ("pytorch_lightning") as well
    logger = logging.getLogger("pytorch_lightning.callbacks.early_stopping")
    messages: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: messages.append(record.getMessage())  # type: ignore[method-assign]
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _model_class(pkg: ModuleType, sequence: list[float], where: str) -> type:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")

    class ScriptedMetricModel(boring.BoringModel):  # type: ignore[name-defined]
        """Logs ``sequence[i]`` at the i-th validation run (or training epoch); the sanity check sees entry 0."""

        def __init__(self) -> None:
            super().__init__()
            self.checks = 0

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            if where == "train":
                self.log("train_metric", sequence[self.current_epoch], on_step=False, on_epoch=True)
            return super().training_step(batch, batch_idx)

        def on_validation_epoch_end(self) -> None:
            if where == "val":
                self.log("val_loss", sequence[self.checks])
                self.checks += 0 if self.trainer.sanity_checking else 1

        def on_train_epoch_end(self) -> None:
            if where == "epoch_end":
                self.log("epoch_end_metric", sequence[self.current_epoch])

    return ScriptedMetricModel


def _fit(pkg: ModuleType, callback: Any, trainer_kwargs: dict[str, Any], model: Any, tmp_path: Any) -> Any:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")
    torch.manual_seed(0)
    train = DataLoader(boring.RandomDataset(32, 4))
    val = DataLoader(boring.RandomDataset(32, 2))
    trainer = pkg.Trainer(
        **{
            "max_epochs": 10,
            "logger": False,
            "enable_checkpointing": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "default_root_dir": str(tmp_path),
            "callbacks": [callback],
            **trainer_kwargs,
        }
    )
    trainer.fit(model, train, val)
    return trainer


def _run(pkg: ModuleType, case: str, tmp_path: Any) -> dict[str, Any]:
    es_kwargs, trainer_kwargs, sequence, where = CASES[case]
    es_kwargs = {"monitor": "val_loss", **es_kwargs}
    callback_module = importlib.import_module(f"{pkg.__name__}.callbacks.early_stopping")
    callback = callback_module.EarlyStopping(**es_kwargs)
    torch.manual_seed(1)
    model = _model_class(pkg, sequence, where)()
    with _captured_messages(pkg) as messages:
        trainer = _fit(pkg, callback, trainer_kwargs, model, tmp_path)
    state = callback.state_dict()
    return {
        "stopped_epoch": callback.stopped_epoch,
        "wait_count": callback.wait_count,
        "best_score": callback.best_score.item(),
        "min_delta": callback.min_delta,
        "reason": callback.stopping_reason.value,
        "reason_message": callback.stopping_reason_message,
        "messages": messages,
        "state_key": callback.state_key,
        "state_keys": sorted(state),
        "check_on_train_epoch_end": callback._check_on_train_epoch_end,
        "current_epoch": trainer.current_epoch,
        "global_step": trainer.global_step,
        "should_stop": trainer.should_stop,
        "weights": [p.detach().clone() for p in model.parameters()],
    }


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(expected, float) and math.isnan(expected):
        return isinstance(actual, float) and math.isnan(actual)
    if isinstance(expected, list) and expected and isinstance(expected[0], torch.Tensor):
        return len(actual) == len(expected) and all(torch.equal(a, e) for a, e in zip(actual, expected, strict=True))
    return bool(actual == expected)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("case", list(CASES))
def test_stops_like_lightning(lightning: ModuleType, case: str, tmp_path: Any) -> None:
    expected = _run(lightning, case, tmp_path / "pl")
    actual = _run(shim, case, tmp_path / "shim")
    assert actual.keys() == expected.keys()
    for key, value in expected.items():
        if key == "state_key":
            assert actual[key] == value.replace("pytorch_lightning", "shim")
        else:
            assert _same(actual[key], value), f"{key}: shim {actual[key]!r} != lightning {value!r}"


@pytest.mark.filterwarnings("ignore")
def test_missing_metric_raises_where_lightning_does(lightning: ModuleType, tmp_path: Any) -> None:
    outcomes = []
    for pkg in (lightning, shim):
        callback = importlib.import_module(f"{pkg.__name__}.callbacks.early_stopping").EarlyStopping("missing")
        model = _model_class(pkg, DOWN_THEN_FLAT, "val")()
        trainer = None
        with pytest.raises(RuntimeError, match="missing") as info:
            trainer = _fit(pkg, callback, {}, model, tmp_path / pkg.__name__)
        del trainer
        assert "val_loss" in str(info.value)
        outcomes.append((type(info.value), model.current_epoch, model.global_step, model.checks))
    assert outcomes[0] == outcomes[1]


def test_state_key_and_defaults() -> None:
    callback = EarlyStopping("val_loss")
    assert callback.state_key == "EarlyStopping{'monitor': 'val_loss', 'mode': 'min'}"
    assert EarlyStopping("acc", mode="max").state_key == "EarlyStopping{'monitor': 'acc', 'mode': 'max'}"
    assert callback.best_score.item() == math.inf
    assert EarlyStopping("acc", mode="max").best_score.item() == -math.inf
    assert (callback.wait_count, callback.stopped_epoch) == (0, 0)
    assert callback.stopping_reason is EarlyStoppingReason.NOT_STOPPED


def test_state_dict_round_trip() -> None:
    callback = EarlyStopping("val_loss", patience=4)
    callback.wait_count, callback.stopped_epoch, callback.best_score = 2, 7, torch.tensor(0.25)
    callback.stopping_reason = EarlyStoppingReason.PATIENCE_EXHAUSTED
    callback.stopping_reason_message = "stopped"
    state = callback.state_dict()
    assert state == {
        "wait_count": 2,
        "stopped_epoch": 7,
        "best_score": torch.tensor(0.25),
        "patience": 4,
        "stopping_reason": EarlyStoppingReason.PATIENCE_EXHAUSTED.value,
        "stopping_reason_message": "stopped",
    }
    restored = EarlyStopping("val_loss")
    restored.load_state_dict(state)
    assert restored.state_dict() == state
    # a checkpoint from before the reason was saved
    older = {k: v for k, v in state.items() if not k.startswith("stopping_reason")}
    restored.load_state_dict(older)
    assert restored.stopping_reason is EarlyStoppingReason.NOT_STOPPED
    assert restored.stopping_reason_message is None


def test_state_dict_loads_into_lightning(lightning: ModuleType) -> None:
    ours = EarlyStopping("val_loss", patience=5)
    ours.wait_count, ours.best_score = 3, torch.tensor(1.5)
    theirs = lightning.callbacks.EarlyStopping("val_loss")
    theirs.load_state_dict(ours.state_dict())
    assert theirs.state_dict().keys() == ours.state_dict().keys()
    assert (theirs.wait_count, theirs.patience, theirs.best_score.item()) == (3, 5, 1.5)


@pytest.mark.parametrize("mode", ["foo", "MIN", ""])
def test_bad_mode(mode: str) -> None:
    with pytest.raises(MisconfigurationException, match=f"mode={mode!r}"):
        EarlyStopping("val_loss", mode=mode)


def test_bad_mode_type_matches_lightning(lightning: ModuleType) -> None:
    from lightning_fabric.utilities.exceptions import MisconfigurationException as LightningMisconfiguration

    with pytest.raises(LightningMisconfiguration):
        lightning.callbacks.EarlyStopping("val_loss", mode="foo")


def test_is_a_monitoring_callback() -> None:
    from shim.trainer.hooks import is_monitoring_callback

    assert is_monitoring_callback(EarlyStopping("val_loss"))


def _save_then_resume(saver: ModuleType, resumer: ModuleType, tmp_path: Any) -> dict[str, Any]:
    """Four epochs under ``saver`` (best 3.0 at epoch 2), then resume under ``resumer`` to stop at epoch 5."""
    sequence = [5.0, 4.0, 3.0, 3.5, 3.2, 3.1, 3.4, 3.3]
    first = importlib.import_module(f"{saver.__name__}.callbacks.early_stopping").EarlyStopping("val_loss", patience=3)
    model = _model_class(saver, sequence, "val")()
    trainer = _fit(saver, first, {"max_epochs": 4}, model, tmp_path / "first")
    path = tmp_path / "resume.ckpt"
    trainer.save_checkpoint(path)
    second = importlib.import_module(f"{resumer.__name__}.callbacks.early_stopping").EarlyStopping(
        "val_loss", patience=3
    )
    model = _model_class(resumer, sequence, "val")()
    model.checks = 4
    torch.manual_seed(0)
    boring = importlib.import_module(f"{resumer.__name__}.demos.boring_classes")
    trainer = resumer.Trainer(
        max_epochs=10,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[second],
    )
    trainer.fit(
        model, DataLoader(boring.RandomDataset(32, 4)), DataLoader(boring.RandomDataset(32, 2)), ckpt_path=str(path)
    )
    return {
        "stopped_epoch": second.stopped_epoch,
        "wait_count": second.wait_count,
        "best_score": second.best_score.item(),
        "reason": second.stopping_reason.value,
        "current_epoch": trainer.current_epoch,
        "global_step": trainer.global_step,
    }


@pytest.mark.filterwarnings("ignore")
def test_resumed_state_continues_like_lightning(lightning: ModuleType, tmp_path: Any) -> None:
    expected = _save_then_resume(lightning, lightning, tmp_path / "pl")
    assert (expected["stopped_epoch"], expected["wait_count"], expected["best_score"]) == (5, 3, 3.0)
    assert _save_then_resume(shim, shim, tmp_path / "shim") == expected
    # a shim checkpoint carries the callback state under Lightning's key, so Lightning resumes it the same way
    assert _save_then_resume(shim, lightning, tmp_path / "shim-to-pl") == expected


def test_missing_metric_warns_when_not_strict_and_verbose(tmp_path: Any) -> None:
    callback = EarlyStopping("absent", strict=False, verbose=True)
    model = _model_class(shim, DOWN_THEN_FLAT, "val")()
    with pytest.warns(RuntimeWarning, match="'absent'.*'val_loss'"):
        _fit(shim, callback, {"max_epochs": 1}, model, tmp_path)
    assert callback.wait_count == 0


@pytest.mark.filterwarnings("ignore")
def test_a_module_without_validation_step_checks_at_the_train_epoch_end(lightning: ModuleType, tmp_path: Any) -> None:
    def run(pkg: ModuleType) -> tuple[int, int, int]:
        callback_module = importlib.import_module(f"{pkg.__name__}.callbacks.early_stopping")
        callback = callback_module.EarlyStopping("epoch_end_metric", patience=2, check_on_train_epoch_end=True)
        model = _model_class(pkg, DOWN_THEN_FLAT, "epoch_end")()
        model.validation_step = None  # switches validation off, as in Lightning
        trainer = _fit(pkg, callback, {}, model, tmp_path / pkg.__name__)
        return callback.stopped_epoch, trainer.current_epoch, trainer.global_step

    expected = run(lightning)
    assert expected == (4, 5, 20)
    assert run(shim) == expected


class _FakeTrainer:
    def __init__(self, world_size: int, global_rank: int) -> None:
        self.world_size = world_size
        self.global_rank = global_rank


@pytest.mark.parametrize(
    ("rank_zero_only", "world_size", "rank", "expected"),
    [
        (False, 1, 0, ["bar"]),
        (True, 1, 0, ["bar"]),
        (False, 2, 0, ["[rank: 0] bar"]),
        (False, 2, 1, ["[rank: 1] bar"]),
        (True, 2, 0, ["[rank: 0] bar"]),
        (True, 2, 1, []),
    ],
)
def test_log_info_prefixes_the_rank_with_several_processes(
    rank_zero_only: bool, world_size: int, rank: int, expected: list[str]
) -> None:
    with _captured_messages(shim) as messages:
        EarlyStopping._log_info(_FakeTrainer(world_size, rank), "bar", rank_zero_only)  # type: ignore[arg-type]
    assert messages == expected
