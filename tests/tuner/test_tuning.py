"""``trainer.tune`` (Lightning 1.x) with the sizes and learning rate Lightning 1.9.5 finds, and the ``Tuner``'s run."""

from typing import Any

import pytest
import torch

import shim
from shim.callbacks import BatchSizeFinder, LearningRateFinder
from shim.demos import boring_classes
from shim.tuner import Tuner
from shim.tuner.lr_finder import _LRFinder
from shim.utilities.exceptions import MisconfigurationException
from tests.tuner.models import QUIET, oom_model

# (auto_scale_batch_size, OOM threshold, dataset length, scale_batch_size_kwargs, size): Lightning 1.9.5's answers,
# measured with Lightning 1.9.5 (1.9 clamps sizes to the dataset length and has no max_val or margin)
TUNE_1X = [
    (True, 20, 64, {}, 16),
    (True, 1000, 100, {}, 100),
    ("power", 40, 500, {"max_trials": 3}, 16),
    ("binsearch", 20, 64, {}, 20),
    ("binsearch", 1000, 100, {}, 100),
    ("binsearch", 17, 1000, {}, 17),
]


@pytest.mark.parametrize("case", TUNE_1X, ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}-{c[3]}")
def test_tune_scales_batch_size_as_lightning_1x(case: tuple[Any, ...]) -> None:
    mode, threshold, length, kwargs, expected = case
    torch.manual_seed(0)
    model = oom_model(boring_classes, threshold, length)
    trainer = shim.Trainer(max_epochs=1, auto_scale_batch_size=mode, **QUIET)
    assert trainer.tune(model, scale_batch_size_kwargs=kwargs) == {"scale_batch_size": expected}
    assert model.batch_size == expected
    assert trainer.auto_scale_batch_size is False


def test_tune_finds_lr_as_lightning_1x() -> None:
    torch.manual_seed(0)
    model = oom_model(boring_classes, 10**6, 640, batch_size=16)
    trainer = shim.Trainer(max_epochs=1, auto_lr_find=True, **QUIET)
    result = trainer.tune(model)
    finder = result["lr_find"]
    assert list(result) == ["lr_find"]
    assert isinstance(finder, _LRFinder)
    # Lightning 1.9.5's numbers: 40 points (the loss diverges), their first losses and the suggestion
    assert len(finder.results["loss"]) == 40
    assert finder.results["loss"][:2] == pytest.approx([0.6791187055183172, 0.8978683354010983], rel=1e-6)
    assert model.lr == pytest.approx(3.311311214825911e-07, rel=1e-9)
    assert finder._lightning_1x
    assert trainer.auto_lr_find is False


def test_lightning_1x_suggests_by_the_slope_per_step() -> None:
    finder = _LRFinder("exponential", 1.0, 11.0, 4)
    finder.results = {"lr": [1.0, 2.0, 10.0, 11.0], "loss": [1.0, 0.9, 0.5, 0.0]}
    assert finder.suggestion(skip_begin=0) == 1.0  # 2.x: slope per unit of learning rate
    finder._lightning_1x = True
    assert finder.suggestion(skip_begin=0) == 10.0  # 1.9: slope per step


def test_tune_runs_both_and_leaves_the_random_state() -> None:
    class Model(boring_classes.BoringModel):
        def __init__(self) -> None:
            super().__init__()
            self.batch_size, self.my_lr = 2, 0.1

        def train_dataloader(self) -> Any:
            return torch.utils.data.DataLoader(boring_classes.RandomDataset(32, 64), batch_size=self.batch_size)

    model = Model()
    trainer = shim.Trainer(max_epochs=3, auto_scale_batch_size="binsearch", auto_lr_find="my_lr", **QUIET)
    torch.manual_seed(3)
    expected_draw = torch.rand(1)
    torch.manual_seed(3)
    result = trainer.tune(model, scale_batch_size_kwargs={"max_trials": 2}, lr_find_kwargs={"num_training": 20})
    assert torch.equal(torch.rand(1), expected_draw)
    assert result["scale_batch_size"] == 8 == model.batch_size  # 1.9 stops after max_trials + 1 successes
    assert model.my_lr == result["lr_find"].suggestion()


def test_tune_without_auto_flags_does_nothing() -> None:
    assert shim.Trainer(max_epochs=1, **QUIET).tune(boring_classes.BoringModel()) == {}


def test_tune_refuses_loaders_with_a_datamodule() -> None:
    trainer = shim.Trainer(max_epochs=1, auto_lr_find=True, **QUIET)
    loader = torch.utils.data.DataLoader(boring_classes.RandomDataset(32, 8))
    with pytest.raises(MisconfigurationException, match="if datamodule is already passed"):
        trainer.tune(boring_classes.BoringModel(), loader, datamodule=boring_classes.BoringDataModule())


class _Recorder(shim.Callback):
    def __init__(self) -> None:
        self.hooks: list[str] = []

    def on_fit_start(self, *args: Any) -> None:
        self.hooks.append("on_fit_start")

    def on_train_start(self, *args: Any) -> None:
        self.hooks.append("on_train_start")

    def on_fit_end(self, *args: Any) -> None:
        self.hooks.append("on_fit_end")

    def teardown(self, *args: Any, **kwargs: Any) -> None:
        self.hooks.append("teardown")


def test_tuner_run_ends_after_the_search() -> None:
    recorder = _Recorder()
    trainer = shim.Trainer(max_epochs=1, callbacks=[recorder], **QUIET)
    Tuner(trainer).scale_batch_size(oom_model(boring_classes, 20, 64))
    # as in Lightning: the exit skips training and the fit-end hooks, but not teardown
    assert recorder.hooks == ["teardown"]  # the finder comes first and ends the run in its on_fit_start
    assert trainer.state.status == "finished"
    assert not trainer.interrupted
    assert trainer.callbacks == [recorder]


def test_exports() -> None:
    import shim.tuner.tuning

    assert shim.tuner.Tuner is shim.tuner.tuning.Tuner is Tuner
    assert shim.callbacks.BatchSizeFinder is BatchSizeFinder
    assert shim.callbacks.LearningRateFinder is LearningRateFinder
