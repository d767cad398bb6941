"""LearningRateMonitor logs the same names, values and steps as Lightning's, through the Trainer's loggers."""

import importlib
import warnings
from types import ModuleType
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

import shim
from shim.callbacks.lr_monitor import LearningRateMonitor
from shim.utilities.exceptions import MisconfigurationException


def _recording_logger(pkg: ModuleType) -> Any:
    """A logger of ``pkg`` (shim or Lightning) that keeps every ``log_metrics`` call."""
    base = importlib.import_module(f"{pkg.__name__}.loggers").Logger

    class RecordingLogger(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.logged: list[tuple[int | None, dict[str, float]]] = []

        @property
        def name(self) -> str:
            return "recording"

        @property
        def version(self) -> int:
            return 0

        def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
            self.logged.append((step, dict(metrics)))

        def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
            pass

    return RecordingLogger()


def _sgd_step_lr(model: Any) -> Any:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    return [optimizer], [torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)]


def _sgd_only(model: Any) -> Any:
    return torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.9, weight_decay=0.01)


def _adam_two_groups_named_step_scheduler(model: Any) -> Any:
    optimizer = torch.optim.Adam(
        [
            {"params": [model.layer.weight], "lr": 0.01},
            {"params": [model.layer.bias], "lr": 0.02, "weight_decay": 0.1, "betas": (0.8, 0.99)},
        ]
    )
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.9)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step", "name": "my-adam"}}


def _named_param_groups(model: Any) -> Any:
    optimizer = torch.optim.SGD(
        [{"params": [model.layer.weight], "name": "weights"}, {"params": [model.layer.bias], "name": "biases"}],
        lr=0.05,
    )
    return [optimizer], [torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1 / (epoch + 1))]


def _one_named_group(model: Any) -> Any:
    return torch.optim.SGD([{"params": model.parameters(), "name": "all"}], lr=0.05)


def _two_sgd(model: Any) -> Any:
    first = torch.optim.SGD([model.layer.weight], lr=0.1)
    second = torch.optim.SGD([model.layer.bias], lr=0.2, momentum=0.5)
    third = torch.optim.Adagrad(model.parameters(), lr=0.3)
    return [first, second, third], [torch.optim.lr_scheduler.StepLR(second, step_size=1, gamma=0.1)]


def _adagrad(model: Any) -> Any:
    return torch.optim.Adagrad(model.parameters(), lr=0.2)


# (name, configure_optimizers, LearningRateMonitor kwargs, Trainer kwargs, manual optimization)
CASES: list[tuple[str, Any, dict[str, Any], dict[str, Any], bool]] = [
    ("sgd-steplr-default", _sgd_step_lr, {}, {}, False),
    ("sgd-steplr-step", _sgd_step_lr, {"logging_interval": "step"}, {}, False),
    ("sgd-steplr-epoch", _sgd_step_lr, {"logging_interval": "epoch"}, {}, False),
    ("sgd-no-scheduler", _sgd_only, {"log_momentum": True, "log_weight_decay": True}, {}, False),
    ("sgd-log-every-2", _sgd_only, {}, {"log_every_n_steps": 2}, False),
    (
        "adam-two-groups",
        _adam_two_groups_named_step_scheduler,
        {"log_momentum": True, "log_weight_decay": True},
        {"accumulate_grad_batches": 2},
        False,
    ),
    ("adam-two-groups-epoch", _adam_two_groups_named_step_scheduler, {"logging_interval": "epoch"}, {}, False),
    ("named-param-groups", _named_param_groups, {"logging_interval": "step"}, {}, False),
    ("one-named-group", _one_named_group, {}, {}, False),
    ("duplicate-classes", _two_sgd, {"log_momentum": True}, {}, True),
    ("adagrad-no-momentum", _adagrad, {"log_momentum": True}, {}, False),
]


def _run(pkg: ModuleType, case: str) -> dict[str, Any]:
    _, configure, monitor_kwargs, trainer_kwargs, manual = next(c for c in CASES if c[0] == case)
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")
    monitor_cls = importlib.import_module(f"{pkg.__name__}.callbacks.lr_monitor").LearningRateMonitor

    class Model(boring.BoringModel):  # type: ignore[name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.automatic_optimization = not manual

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            if self.automatic_optimization:
                return super().training_step(batch, batch_idx)
            loss = self.step(batch)
            for optimizer in self.optimizers():
                optimizer.zero_grad()
            self.manual_backward(loss)
            for optimizer in self.optimizers():
                optimizer.step()
            if self.trainer.is_last_batch:
                self.lr_schedulers().step()
            return loss

        def configure_optimizers(self) -> Any:
            return configure(self)

    torch.manual_seed(0)
    logger = _recording_logger(pkg)
    monitor = monitor_cls(**monitor_kwargs)
    trainer = pkg.Trainer(
        **{
            "max_epochs": 3,
            "limit_val_batches": 0,
            "log_every_n_steps": 1,
            "logger": logger,
            "enable_checkpointing": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "callbacks": [monitor],
            **trainer_kwargs,
        }
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(Model(), DataLoader(boring.RandomDataset(32, 6), batch_size=2))
    names = sorted({name for _, metrics in logger.logged for name in metrics})
    return {
        "logged": logger.logged,
        "lrs": monitor.lrs,
        "last_momentum_values": monitor.last_momentum_values,
        "last_weight_decay_values": monitor.last_weight_decay_values,
        "callback_metrics": {k: v.item() for k, v in trainer.callback_metrics.items() if k in names},
        "momentum_warnings": sum("momentum" in str(w.message) for w in caught if w.category is RuntimeWarning),
    }


@pytest.mark.parametrize("case", [c[0] for c in CASES])
def test_logs_like_lightning(lightning: ModuleType, case: str) -> None:
    expected = _run(lightning, case)
    actual = _run(shim, case)
    assert expected["logged"], "the case should log something"
    assert actual == expected


def _fit_without_logger(pkg: ModuleType, error: type[Exception]) -> list[str]:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")
    monitor = importlib.import_module(f"{pkg.__name__}.callbacks.lr_monitor").LearningRateMonitor()
    started: list[str] = []

    class Model(boring.BoringModel):  # type: ignore[name-defined]
        def on_fit_start(self) -> None:
            started.append("fit")

        def on_train_start(self) -> None:
            started.append("train")

    trainer = pkg.Trainer(
        logger=False, max_epochs=1, callbacks=[monitor], enable_progress_bar=False, enable_model_summary=False
    )
    with pytest.raises(error, match="LearningRateMonitor.*logger"):
        trainer.fit(Model(), DataLoader(boring.RandomDataset(32, 4)))
    return started


@pytest.mark.filterwarnings("ignore")
def test_no_logger_raises_at_train_start(lightning: ModuleType) -> None:
    from lightning_fabric.utilities.exceptions import MisconfigurationException as LightningMisconfiguration

    # callbacks run before the module: the error comes after on_fit_start, before the module's on_train_start
    assert _fit_without_logger(lightning, LightningMisconfiguration) == ["fit"]
    assert _fit_without_logger(shim, MisconfigurationException) == ["fit"]


def test_duplicate_param_group_names_raise() -> None:
    boring = importlib.import_module("shim.demos.boring_classes")

    class Model(boring.BoringModel):  # type: ignore[name-defined]
        def configure_optimizers(self) -> Any:
            groups = [{"params": [self.layer.weight], "name": "x"}, {"params": [self.layer.bias], "name": "x"}]
            return torch.optim.SGD(groups, lr=0.1)

    trainer = shim.Trainer(
        logger=_recording_logger(shim),
        log_every_n_steps=1,
        max_epochs=1,
        callbacks=[LearningRateMonitor()],
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    with pytest.raises(MisconfigurationException, match="lr-SGD.*'x'"):
        trainer.fit(Model(), DataLoader(boring.RandomDataset(32, 4)))


@pytest.mark.parametrize("interval", ["hour", "batch", "Step", 1])
def test_bad_logging_interval(interval: Any) -> None:
    with pytest.raises(MisconfigurationException, match=f"logging_interval={interval!r}"):
        LearningRateMonitor(logging_interval=interval)


def test_state_key_is_the_class_name() -> None:
    assert LearningRateMonitor().state_key == "LearningRateMonitor"
    assert LearningRateMonitor().state_dict() == {}
