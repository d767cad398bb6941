"""A new Trainer reports the machine's GPU and TPU as Lightning's does: two INFO lines and a warning for an idle GPU."""

import importlib
import logging
import warnings
from types import ModuleType

import pytest

import shim


def _build(pkg: ModuleType, caplog: pytest.LogCaptureFixture) -> tuple[list[tuple[str, int]], list[type[Warning]]]:
    caplog.clear()
    with caplog.at_level(logging.INFO), warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        pkg.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False)
    lines = [
        (r.name.rpartition(".")[2], r.levelno)
        for r in caplog.records
        if "GPU" in r.getMessage() or "TPU" in r.getMessage()
    ]
    return lines, [w.category for w in record if "GPU" in str(w.message)]


def test_device_lines_as_lightning(lightning: ModuleType, caplog: pytest.LogCaptureFixture) -> None:
    expected, got = _build(lightning, caplog), _build(shim, caplog)
    assert got[0] == expected[0] == [("rank_zero", logging.INFO), ("rank_zero", logging.INFO)]
    assert got[1] == expected[1] == []


def test_an_idle_gpu_is_warned_about_as_lightning(
    lightning: ModuleType, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    for pkg in (lightning, shim):
        cuda = importlib.import_module(f"{pkg.__name__}.accelerators.cuda").CUDAAccelerator
        monkeypatch.setattr(cuda, "is_available", staticmethod(lambda: True))
    expected, got = _build(lightning, caplog), _build(shim, caplog)
    assert [c.__name__ for c in got[1]] == [c.__name__ for c in expected[1]] == ["PossibleUserWarning"]
    assert any("(cuda)" in r.getMessage() for r in caplog.records)
