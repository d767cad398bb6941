"""Shared test setup: one torch thread, a bounded hypothesis profile, and the Lightning reference fixture."""

import importlib
import os
from collections.abc import Iterator
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


@pytest.fixture(autouse=True)
def _restore_tracking_environment() -> Iterator[None]:
    """Undo what a test's loggers write into ``os.environ`` (``mlflow.set_tracking_uri`` sets MLFLOW_TRACKING_URI),
    so that a later test, or a script it starts, does not find another test's store there."""
    before = {key: value for key, value in os.environ.items() if key.startswith(("MLFLOW_", "WANDB_"))}
    yield
    for key in [key for key in os.environ if key.startswith(("MLFLOW_", "WANDB_"))]:
        if key not in before:
            del os.environ[key]
    os.environ.update(before)
