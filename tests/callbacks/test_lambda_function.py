"""LambdaCallback calls every function it was given at its hook, as Lightning's does, and rejects unknown names."""

import importlib
from types import ModuleType
from typing import Any

import pytest
import torch

import shim
from shim.callbacks.callback import Callback
from shim.callbacks.lambda_function import HOOK_NAMES, LambdaCallback


def _recording_lambda_callback(pkg: ModuleType, calls: list[str]) -> Any:
    lambda_cls = importlib.import_module(f"{pkg.__name__}.callbacks.lambda_function").LambdaCallback

    def recorder(name: str) -> Any:
        def record(trainer: Any, pl_module: Any, *args: Any, **kwargs: Any) -> None:
            assert trainer.lightning_module is pl_module
            calls.append(name)

        return record

    return lambda_cls(**{name: recorder(name) for name in sorted(HOOK_NAMES)})


def _script(pkg: ModuleType, tmp_path: Any) -> list[str]:
    boring = importlib.import_module(f"{pkg.__name__}.demos.boring_classes")
    calls: list[str] = []
    callback = _recording_lambda_callback(pkg, calls)
    torch.manual_seed(0)
    trainer_kwargs: dict[str, Any] = {
        "max_epochs": 1,
        "limit_train_batches": 2,
        "limit_val_batches": 1,
        "limit_test_batches": 1,
        "limit_predict_batches": 1,
        "num_sanity_val_steps": 1,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "default_root_dir": str(tmp_path),
        "callbacks": [callback],
    }
    trainer = pkg.Trainer(**trainer_kwargs)
    model = boring.BoringModel()
    trainer.fit(model)
    trainer.save_checkpoint(tmp_path / "model.ckpt")
    pkg.Trainer(**{**trainer_kwargs, "max_epochs": 2}).fit(boring.BoringModel(), ckpt_path=tmp_path / "model.ckpt")
    trainer.validate(model, verbose=False)
    trainer.test(model, verbose=False)
    trainer.predict(model)

    class Failing(boring.BoringModel):  # type: ignore[name-defined]
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        pkg.Trainer(**trainer_kwargs).fit(Failing())
    return calls


@pytest.mark.filterwarnings("ignore")
def test_every_hook_is_called_as_in_lightning(lightning: ModuleType, tmp_path: Any) -> None:
    expected = _script(lightning, tmp_path / "pl")
    actual = _script(shim, tmp_path / "shim")
    assert set(actual) == HOOK_NAMES
    assert actual == expected


def test_accepts_exactly_lightnings_hook_names(lightning: ModuleType) -> None:
    import inspect

    theirs = set(inspect.signature(lightning.callbacks.LambdaCallback.__init__).parameters) - {"self"}
    assert theirs == HOOK_NAMES


def test_only_given_hooks_are_set() -> None:
    def on_fit_start(trainer: Any, pl_module: Any) -> None:
        pass

    callback = LambdaCallback(on_fit_start=on_fit_start, on_fit_end=None)
    assert callback.on_fit_start is on_fit_start
    assert "on_fit_end" not in vars(callback)
    assert type(callback).on_fit_end is Callback.on_fit_end
    assert callback.state_dict() == {}


def test_unknown_hook_names_are_rejected() -> None:
    with pytest.raises(TypeError, match="'on_epoch_end', 'on_trian_start'.*not Callback hook names.*on_train_start"):
        LambdaCallback(on_trian_start=print, on_epoch_end=print)
    with pytest.raises(TypeError, match="'state_dict'"):
        LambdaCallback(state_dict=dict)


def test_non_callable_is_rejected() -> None:
    with pytest.raises(TypeError, match="on_fit_start=.*callable"):
        LambdaCallback(on_fit_start=3)  # type: ignore[arg-type]
