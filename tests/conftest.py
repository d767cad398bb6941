"""Shared test setup: one torch thread, a bounded hypothesis profile, and the Lightning reference fixture."""

import importlib
import os
from types import ModuleType

import pytest
import torch
from hypothesis import HealthCheck, settings

torch.set_num_threads(1)

settings.register_profile(
    "ci",
    max_examples=int(os.environ.get("SHIM_HYPOTHESIS_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
settings.register_profile("dev", max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def lightning() -> ModuleType:
    """The real ``pytorch_lightning`` package, the reference oracle; skipped when it is not installed."""
    try:
        return importlib.import_module("pytorch_lightning")
    except ImportError:
        pytest.skip("pytorch-lightning==2.6.6 is not installed (install the `test` extra to run reference tests)")


@pytest.fixture(autouse=True)
def _work_in_tmp_path(tmp_path: "os.PathLike[str]", monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every test in its own folder, so default_root_dir (the working directory) never points at the repo."""
    monkeypatch.chdir(tmp_path)
