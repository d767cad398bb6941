"""The learning-rate range test: Lightning 2.6.6's learning rates, losses and suggestion; restoring the run."""

import importlib.util
import warnings
from types import ModuleType
from typing import Any

import pytest
import torch

import shim
from shim.callbacks import LearningRateFinder
from shim.demos import boring_classes
from shim.tuner import Tuner
from shim.tuner.lr_finder import _LRFinder
from shim.utilities.exceptions import MisconfigurationException
from tests.tuner.models import QUIET, oom_model


def _lr_find(pl: ModuleType, demos: ModuleType, tuner_type: Any, **kwargs: Any) -> tuple[Any, Any]:
    torch.manual_seed(0)
    model = oom_model(demos, 10**6, 640, batch_size=16)
    trainer = pl.Trainer(max_epochs=1, **QUIET)
    return tuner_type(trainer).lr_find(model, **kwargs), model


@pytest.mark.parametrize("kwargs", [{}, {"mode": "linear", "num_training": 30, "max_lr": 0.5}])
def test_same_results_as_lightning(lightning: ModuleType, kwargs: dict[str, Any]) -> None:
    from pytorch_lightning.demos import boring_classes as pl_demos
    from pytorch_lightning.tuner import Tuner as PLTuner

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs, their_model = _lr_find(lightning, pl_demos, PLTuner, **kwargs)
    ours, our_model = _lr_find(shim, boring_classes, Tuner, **kwargs)
    assert ours.results["lr"] == pytest.approx(theirs.results["lr"], rel=1e-12)
    assert ours.results["loss"] == pytest.approx(theirs.results["loss"], rel=1e-6)
    assert ours.suggestion() == pytest.approx(theirs.suggestion(), rel=1e-12)
    assert our_model.lr == pytest.approx(their_model.lr, rel=1e-12)


def test_results_suggestion_and_restored_weights() -> None:
    torch.manual_seed(0)
    model = oom_model(boring_classes, 10**6, 640, batch_size=16)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = shim.Trainer(max_epochs=1, **QUIET)
    finder = Tuner(trainer).lr_find(model)
    assert finder is not None
    # the loss diverges after 40 of the 100 steps (Lightning 2.6.6 gives the same numbers)
    assert len(finder.results["lr"]) == len(finder.results["loss"]) == 40
    assert finder.results["lr"][:2] == pytest.approx([1e-8, 1.4454397707459274e-08])
    assert finder.suggestion() == model.lr
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert trainer.global_step == 0
    assert trainer.state.status == "finished"


class _HParamsModel(boring_classes.BoringModel):
    def __init__(self, my_lr: float = 0.1, learning_rate: float = 0.1) -> None:
        super().__init__()
        self.save_hyperparameters()


def test_update_attr_and_attr_name() -> None:
    model = _HParamsModel()
    finder = Tuner(shim.Trainer(max_epochs=1, **QUIET)).lr_find(model, num_training=20, attr_name="my_lr")
    assert finder is not None
    assert model.hparams["my_lr"] == finder.suggestion()
    assert model.hparams["learning_rate"] == 0.1
    model = _HParamsModel()
    Tuner(shim.Trainer(max_epochs=1, **QUIET)).lr_find(model, num_training=20, update_attr=False)
    assert model.hparams["learning_rate"] == 0.1


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"mode": "foo"}, ValueError, "mode='foo'\\) is not valid"),
        ({"method": "test"}, MisconfigurationException, "runs in fit only"),
        ({"attr_name": "missing"}, AttributeError, "attr_name='missing'"),
        ({"dataloaders": [1]}, MisconfigurationException, "got `dataloaders` with method='fit'"),
    ],
)
def test_bad_input(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        Tuner(shim.Trainer(max_epochs=1, **QUIET)).lr_find(boring_classes.BoringModel(), **kwargs)


def test_missing_lr_attribute() -> None:
    with pytest.raises(AttributeError, match="none is there"):
        Tuner(shim.Trainer(max_epochs=1, **QUIET)).lr_find(boring_classes.BoringModel())


def test_callback_runs_the_test_then_trains() -> None:
    torch.manual_seed(0)
    model = oom_model(boring_classes, 10**6, 64, batch_size=4)
    finder = LearningRateFinder(num_training_steps=10)
    trainer = shim.Trainer(max_epochs=1, callbacks=[finder], **QUIET)
    trainer.fit(model)
    assert finder.optimal_lr is not None
    assert len(finder.optimal_lr.results["lr"]) == 10
    assert trainer.global_step == 16  # the full epoch after the test


def test_suggestion_needs_two_points() -> None:
    finder = _LRFinder("exponential", 1e-8, 1.0, 5)
    finder.results = {"lr": [1e-8, 1e-6, 1e-4], "loss": [1.0, float("nan"), 0.3]}
    assert finder.suggestion(skip_begin=0) is None
    finder.results = {"lr": [1.0, 2.0, 3.0, 4.0, 5.0], "loss": [1.0, 0.9, 0.4, 0.3, 0.2]}
    assert finder.suggestion(skip_begin=0) == 2.0


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is not None, reason="matplotlib is installed")
def test_plot_without_matplotlib() -> None:
    finder = _LRFinder("exponential", 1e-8, 1.0, 5)
    with pytest.raises(MisconfigurationException, match="Matplotlib"):
        finder.plot()
