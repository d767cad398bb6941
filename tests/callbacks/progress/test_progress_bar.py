"""ProgressBar's shared parts: the standard metrics (``v_num``) and the stage descriptions."""

from typing import Any

import shim
from shim.callbacks.progress.progress_bar import get_standard_metrics
from shim.loggers import CSVLogger


def _trainer(tmp_path: Any, **kwargs: Any) -> shim.Trainer:
    return shim.Trainer(default_root_dir=tmp_path, enable_progress_bar=False, **kwargs)


def test_v_num_is_the_logger_version(tmp_path: Any) -> None:
    assert get_standard_metrics(_trainer(tmp_path, logger=CSVLogger(tmp_path, version=7))) == {"v_num": 7}
    assert get_standard_metrics(_trainer(tmp_path, logger=CSVLogger(tmp_path, version="run-12345"))) == {
        "v_num": "2345"
    }


def test_no_v_num_without_a_versioned_logger(tmp_path: Any) -> None:
    assert get_standard_metrics(_trainer(tmp_path, logger=False)) == {}
    # fast_dev_run logs to a DummyLogger, whose version is empty
    assert get_standard_metrics(_trainer(tmp_path, fast_dev_run=True)) == {}


def test_stage_descriptions() -> None:
    bar = shim.callbacks.TQDMProgressBar()
    names = ("sanity_check", "train", "validation", "test", "predict")
    descriptions = [getattr(bar, f"{name}_description") for name in names]
    assert descriptions == ["Sanity Checking", "Training", "Validation", "Testing", "Predicting"]
