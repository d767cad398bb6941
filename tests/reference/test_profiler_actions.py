"""``SimpleProfiler`` records the actions real Lightning 2.6.6 records, with the same number of calls each.

Action names are what a report lists and what people grep for (``[Strategy]...training_step``), so the set of
names and the count of each are compared with real Lightning for short runs of every entry point.
"""

import importlib
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import shim

CASES: list[tuple[str, dict[str, Any]]] = [
    ("fit", {"max_epochs": 2, "limit_train_batches": 3, "limit_val_batches": 2}),
    ("fit", {"max_epochs": 1, "limit_train_batches": 4, "limit_val_batches": 0, "accumulate_grad_batches": 2}),
    ("fit", {"max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 1, "enable_checkpointing": False}),
    ("validate", {"limit_val_batches": 3}),
    ("test", {"limit_test_batches": 2}),
    ("predict", {"limit_predict_batches": 2}),
]


def _actions(pkg: ModuleType, fn: str, kwargs: dict[str, Any], manual: bool, datamodule: bool, root: Path) -> Counter:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")
    profilers = importlib.import_module(f"{pkg.__name__}.profilers")
    model = boring.ManualOptimBoringModel() if manual else boring.BoringModel()
    profiler = profilers.SimpleProfiler()
    trainer = pkg.Trainer(
        default_root_dir=root, profiler=profiler, logger=False, enable_progress_bar=False, enable_model_summary=False,
        **kwargs,
    )  # fmt: skip
    data = {"datamodule": boring.BoringDataModule()} if datamodule else {}
    getattr(trainer, fn)(model, **data)
    return Counter({name: len(durations) for name, durations in profiler.recorded_durations.items()})


@pytest.mark.parametrize(("fn", "kwargs"), CASES)
@pytest.mark.parametrize("manual", [False, True])
def test_recorded_actions_and_counts_match_lightning(
    lightning: ModuleType, tmp_path: Path, fn: str, kwargs: dict[str, Any], manual: bool
) -> None:
    if manual and "accumulate_grad_batches" in kwargs:
        pytest.skip("manual optimization does not take accumulate_grad_batches")
    theirs = _actions(lightning, fn, kwargs, manual, False, tmp_path / "theirs")
    ours = _actions(shim, fn, kwargs, manual, False, tmp_path / "ours")
    assert sorted(set(ours) - set(theirs)) == []
    assert sorted(set(theirs) - set(ours)) == []
    assert ours == theirs


def test_datamodule_actions_match_lightning(lightning: ModuleType, tmp_path: Path) -> None:
    kwargs = {"max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 1}
    theirs = _actions(lightning, "fit", kwargs, False, True, tmp_path / "theirs")
    ours = _actions(shim, "fit", kwargs, False, True, tmp_path / "ours")
    assert any(name.startswith("[LightningDataModule]BoringDataModule.") for name in ours)
    assert ours == theirs
