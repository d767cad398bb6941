"""OnExceptionCheckpoint: a failed run leaves a checkpoint, the next fit resumes from it, a finished run removes it."""

import contextlib
import importlib
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

import shim
from shim.callbacks import OnExceptionCheckpoint


class _Boom(Exception):
    pass


def _run(pkg: ModuleType, root: Path, fail_at: int | None, max_steps: int = 6) -> dict[str, Any]:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes").BoringModel
    callback_class = importlib.import_module(f"{pkg.__name__}.callbacks").OnExceptionCheckpoint

    class Model(boring):  # type: ignore[misc, valid-type]
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            if self.global_step == fail_at:
                raise _Boom
            return super().training_step(batch, batch_idx)

    callback = callback_class(root / "ft")
    trainer = pkg.Trainer(
        max_steps=max_steps, limit_train_batches=4, limit_val_batches=0, logger=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=str(root), callbacks=[callback],
    )  # fmt: skip
    torch.manual_seed(0)
    model = Model()  # the same weights and data in both
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with contextlib.suppress(_Boom):
            trainer.fit(model)
    path = Path(callback.ckpt_path)
    saved = torch.load(path, weights_only=True) if path.exists() else None
    return {
        "global_step": trainer.global_step,
        "file": path.relative_to(root).as_posix(),
        "saved_step": None if saved is None else saved["global_step"],
        "resume_warned": any("OnExceptionCheckpoint" in str(w.message) or "last model" in str(w.message) for w in seen),
        "saved_weight": None if saved is None else saved["state_dict"]["layer.weight"],
    }


@pytest.mark.filterwarnings("ignore")
def test_fail_then_resume_then_finish_as_lightning(lightning: ModuleType, tmp_path: Path) -> None:
    runs = {}
    for pkg in (lightning, shim):
        root = tmp_path / pkg.__name__
        failed = _run(pkg, root, fail_at=3)
        resumed = _run(pkg, root, fail_at=None)
        runs[pkg.__name__] = (failed, resumed)
    (pl_failed, pl_resumed), (failed, resumed) = runs["pytorch_lightning"], runs["shim"]
    assert failed["file"] == pl_failed["file"] == "ft/on_exception.ckpt"
    assert failed["saved_step"] == pl_failed["saved_step"] == 3
    assert resumed["global_step"] == pl_resumed["global_step"] == 6  # 3 restored + 3 trained
    assert resumed["saved_step"] is None
    assert pl_resumed["saved_step"] is None
    assert resumed["resume_warned"]
    assert pl_resumed["resume_warned"]
    torch.testing.assert_close(failed["saved_weight"], pl_failed["saved_weight"], rtol=0, atol=0)


def test_fit_without_ckpt_path_resumes_from_the_on_exception_file(tmp_path: Path) -> None:
    _run(shim, tmp_path, fail_at=2)
    assert (tmp_path / "ft" / "on_exception.ckpt").exists()
    with pytest.warns(UserWarning, match=r"`.fit\(ckpt_path=None\)` with an `OnExceptionCheckpoint` callback resumes"):
        resumed = _run_plain(tmp_path)
    assert resumed.global_step == 6
    assert not (tmp_path / "ft" / "on_exception.ckpt").exists()


def _run_plain(root: Path) -> Any:
    from shim.demos.boring_classes import BoringModel

    trainer = shim.Trainer(
        max_steps=6, limit_train_batches=4, limit_val_batches=0, logger=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=str(root), callbacks=[OnExceptionCheckpoint(root / "ft")],
    )  # fmt: skip
    trainer.fit(BoringModel())
    return trainer


def test_no_file_yet_warns_that_nothing_is_loaded(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match=r'`.fit\(ckpt_path="last"\)`: there is no last checkpoint'):
        trainer = _run_plain(tmp_path)
    assert trainer.ckpt_path is None
    assert trainer.global_step == 6


def test_arguments() -> None:
    callback = OnExceptionCheckpoint("runs", filename="crash")
    assert callback.ckpt_path == "runs/crash.ckpt"
    assert callback.state_key == "OnExceptionCheckpoint"
    with pytest.raises(ValueError, match="OnExceptionCheckpoint\\(filename=''\\): give a non-empty file name"):
        OnExceptionCheckpoint("runs", filename="")
