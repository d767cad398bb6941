"""The batch-size search: the sizes Lightning 2.6.6 finds, restoring the run, where the size lives, bad input."""

import os
import warnings
from types import ModuleType
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

import shim
from shim.callbacks import BatchSizeFinder
from shim.demos import boring_classes
from shim.tuner import Tuner
from shim.tuner.search import is_oom_error
from shim.utilities.exceptions import MisconfigurationException
from tests.tuner.models import OOM_MESSAGE, QUIET, oom_model

# (mode, OOM threshold, dataset length, extra arguments, size found): Lightning 2.6.6's answers
SEARCHES = [
    ("power", 20, 64, {}, 16),
    ("power", 5, 64, {}, 4),
    ("power", 100, 64, {}, 64),
    ("power", 1000, 100, {}, 128),
    ("power", 3, 64, {"init_val": 4}, 4),
    ("power", 40, 500, {"max_trials": 3}, 8),
    ("power", 40, 500, {"max_val": 30}, 32),
    ("binsearch", 20, 64, {}, 19),
    ("binsearch", 5, 64, {}, 4),
    ("binsearch", 100, 64, {}, 60),
    ("binsearch", 1000, 100, {}, 121),
    ("binsearch", 3, 64, {"init_val": 4}, 3),
    ("binsearch", 40, 500, {"max_trials": 3}, 7),
    ("binsearch", 40, 500, {"max_val": 30}, 28),
    ("binsearch", 17, 1000, {"margin": 0.0}, 17),
]


def _search(pl: ModuleType, demos: ModuleType, tuner_type: Any, case: tuple[Any, ...], method: str = "fit") -> Any:
    mode, threshold, length, kwargs, _ = case
    torch.manual_seed(0)
    model = oom_model(demos, threshold, length)
    trainer = pl.Trainer(max_epochs=1, **QUIET)
    found = tuner_type(trainer).scale_batch_size(model, mode=mode, method=method, **kwargs)
    return found, model.batch_size


@pytest.mark.parametrize("case", SEARCHES, ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}-{c[3]}")
def test_sizes_found(case: tuple[Any, ...]) -> None:
    assert _search(shim, boring_classes, Tuner, case) == (case[-1], case[-1])


def test_sizes_match_lightning(lightning: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytorch_lightning.demos import boring_classes as pl_demos
    from pytorch_lightning.tuner import Tuner as PLTuner

    # Lightning's full garbage collection before every trial only costs time here (no CUDA)
    monkeypatch.setattr("pytorch_lightning.tuner.batch_size_scaling.garbage_collection_cuda", lambda: None)

    cases = [(case, "fit") for case in SEARCHES] + [(SEARCHES[0], "validate"), (SEARCHES[7], "test")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = [_search(lightning, pl_demos, PLTuner, case, method) for case, method in cases]
    ours = [_search(shim, boring_classes, Tuner, case, method) for case, method in cases]
    assert ours == theirs


@pytest.mark.parametrize(("method", "mode", "expected"), [("validate", "power", 16), ("test", "binsearch", 19)])
def test_evaluation_stages(method: str, mode: str, expected: int) -> None:
    assert _search(shim, boring_classes, Tuner, (mode, 20, 64, {}, None), method) == (expected, expected)


def test_predict_stage_runs_the_whole_dataset_per_trial() -> None:
    assert _search(shim, boring_classes, Tuner, ("power", 20, 64, {}, None), "predict") == (16, 16)


def test_run_restored_exactly(tmp_path: Any) -> None:
    torch.manual_seed(0)
    model = oom_model(boring_classes, 20, 64)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    callback = shim.Callback()
    trainer = shim.Trainer(max_epochs=1, callbacks=[callback], default_root_dir=tmp_path, enable_progress_bar=False)
    loggers, callbacks = trainer.loggers, list(trainer.callbacks)
    assert Tuner(trainer).scale_batch_size(model) == 16
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert trainer.global_step == 0
    assert trainer.current_epoch == 0
    assert trainer.fit_loop.epoch_loop.batch_progress.total.ready == 0
    assert trainer.loggers == loggers
    assert trainer.callbacks == callbacks
    assert trainer.limit_train_batches == 1.0
    assert trainer.limit_val_batches == 1.0
    assert trainer.state.status == "finished"
    assert trainer.state.stage is None
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".ckpt")]


def _fit_weights(batch_size: int, tune: bool) -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    model = oom_model(boring_classes, 20, 64, batch_size=batch_size)
    trainer = shim.Trainer(max_epochs=2, **QUIET)
    if tune:
        with torch.random.fork_rng():
            assert Tuner(trainer).scale_batch_size(model) == 16
    torch.manual_seed(2)
    trainer.fit(model)
    assert trainer.global_step == 8
    return model.state_dict()


def test_fit_after_search_equals_fit_with_the_size_set_by_hand() -> None:
    tuned, by_hand = _fit_weights(2, tune=True), _fit_weights(16, tune=False)
    assert all(torch.equal(tuned[k], by_hand[k]) for k in by_hand)


def test_callback_searches_then_trains_with_the_size() -> None:
    model = oom_model(boring_classes, 20, 64)
    finder = BatchSizeFinder(mode="binsearch", margin=0.0)
    trainer = shim.Trainer(max_epochs=1, callbacks=[finder], **QUIET)
    trainer.fit(model)
    assert finder.optimal_batch_size == 20 == model.batch_size
    assert trainer.global_step == 4  # 64 samples in batches of 20
    assert trainer.train_dataloader.batch_size == 20


class _HParamsModel(boring_classes.BoringModel):
    def __init__(self, batch_size: int = 2) -> None:
        super().__init__()
        self.save_hyperparameters()

    def train_dataloader(self) -> DataLoader:
        return DataLoader(boring_classes.RandomDataset(32, 64), batch_size=self.hparams["batch_size"])


class _DataModule(shim.LightningDataModule):
    def __init__(self) -> None:
        super().__init__()
        self.batch_size = 2

    def train_dataloader(self) -> DataLoader:
        return DataLoader(boring_classes.RandomDataset(32, 64), batch_size=self.batch_size)


def test_size_in_hparams_and_datamodule() -> None:
    model = _HParamsModel()
    assert Tuner(shim.Trainer(max_epochs=1, **QUIET)).scale_batch_size(model, max_trials=3) == 8
    assert model.hparams["batch_size"] == 8
    datamodule = _DataModule()
    trainer = shim.Trainer(max_epochs=1, limit_val_batches=0, **QUIET)
    assert Tuner(trainer).scale_batch_size(boring_classes.BoringModel(), datamodule=datamodule) == 64
    assert datamodule.batch_size == 64


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"mode": "foo"}, ValueError, "mode='foo'\\) is not valid"),
        ({"batch_arg_name": "missing"}, MisconfigurationException, "no attribute 'missing'"),
        ({"method": "foo"}, ValueError, "method='foo' is not valid"),
        ({"dataloaders": [1]}, MisconfigurationException, "got `dataloaders` with method='fit'"),
        ({"method": "test", "train_dataloaders": [1]}, MisconfigurationException, "reads `dataloaders`"),
        ({"margin": 1.0}, ValueError, "margin=1.0\\) is not valid"),
    ],
)
def test_bad_input(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    trainer = shim.Trainer(max_epochs=1, **QUIET)
    with pytest.raises(error, match=match):
        Tuner(trainer).scale_batch_size(oom_model(boring_classes, 20, 64), **kwargs)


def test_loaders_passed_to_fit_are_refused() -> None:
    trainer = shim.Trainer(max_epochs=1, **QUIET)
    loader = DataLoader(boring_classes.RandomDataset(32, 64))
    with pytest.raises(MisconfigurationException, match="not one passed to `.fit\\(\\)`"):
        Tuner(trainer).scale_batch_size(oom_model(boring_classes, 20, 64), train_dataloaders=loader)


def test_finder_callback_and_tuner_conflict() -> None:
    trainer = shim.Trainer(max_epochs=1, callbacks=[BatchSizeFinder()], **QUIET)
    with pytest.raises(ValueError, match="already hold a `BatchSizeFinder`"):
        Tuner(trainer).scale_batch_size(oom_model(boring_classes, 20, 64))


def test_other_errors_propagate() -> None:
    class Broken(boring_classes.BoringModel):
        batch_size = 2

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            raise RuntimeError("not a memory problem")

    with pytest.raises(RuntimeError, match="not a memory problem"):
        Tuner(shim.Trainer(max_epochs=1, **QUIET)).scale_batch_size(Broken())


def test_fast_dev_run_skips_the_search() -> None:
    trainer = shim.Trainer(fast_dev_run=True, enable_progress_bar=False, enable_model_summary=False)
    with pytest.warns(UserWarning, match="No batch size search under `fast_dev_run`"):
        assert Tuner(trainer).scale_batch_size(oom_model(boring_classes, 20, 64)) is None


@pytest.mark.parametrize(
    ("exception", "expected"),
    [
        (torch.cuda.OutOfMemoryError("anything"), True),
        (RuntimeError(OOM_MESSAGE), True),
        (RuntimeError("cuDNN error: CUDNN_STATUS_NOT_SUPPORTED. This error may appear if ..."), True),
        (
            RuntimeError("[enforce fail] DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 bytes"),
            True,
        ),
        (RuntimeError("CUDA error: device-side assert triggered"), False),
        (RuntimeError("out of memory", "two args"), False),
        (ValueError("CUDA out of memory"), False),
    ],
)
def test_is_oom_error(exception: BaseException, expected: bool) -> None:
    assert is_oom_error(exception) is expected
