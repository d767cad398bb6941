"""Bad input to the LightningModule API, hyper-parameters and saving raises (or warns) the class Lightning raises.

A user's ``except`` written against Lightning must catch shim's error: shim's class is Lightning's builtin class, or
carries the name of Lightning's own class (``MisconfigurationException``) in its MRO.
"""

import importlib
import os
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
import torch

import shim


def _boring(pkg: ModuleType) -> ModuleType:
    return importlib.import_module(f"{pkg.__name__}.demos.boring_classes")


def _trainer(pkg: ModuleType, **kwargs: Any) -> Any:
    return pkg.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, **kwargs)


def _attached(pkg: ModuleType, **trainer_kwargs: Any) -> Any:
    model = _boring(pkg).BoringModel()
    model.trainer = _trainer(pkg, **trainer_kwargs)
    return model


def _saving(pkg: ModuleType, *args: Any) -> Any:
    class Model(_boring(pkg).BoringModel):  # type: ignore[misc]
        def __init__(self, a: Any = 42) -> None:
            super().__init__()
            self.save_hyperparameters(*args)

    return Model


def _checkpoint(pkg: ModuleType, tmp_path: Any) -> str:
    model = _boring(pkg).BoringModel()
    path = os.path.join(tmp_path, f"{pkg.__name__}.ckpt")
    torch.save({"state_dict": model.state_dict(), "pytorch-lightning_version": "2.6.6"}, path)
    return path


def _sgd(model: Any) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=0.1)


_RAISING: dict[str, Callable[[ModuleType, Any], Any]] = {
    "save_hyperparameters with a name that is no argument": lambda pkg, _: _saving(pkg, "b")(),
    "save_hyperparameters with a primitive": lambda pkg, _: _saving(pkg, 42)(),
    "save_hyperparameters with an object": lambda pkg, _: _saving(pkg, object())(),
    "hparams_file of an unknown type": lambda pkg, tmp: _boring(pkg).BoringModel.load_from_checkpoint(
        _checkpoint(pkg, tmp), hparams_file="hparams.txt"
    ),
    "load_from_checkpoint on an instance": lambda pkg, tmp: (
        _boring(pkg).BoringModel().load_from_checkpoint(_checkpoint(pkg, tmp))
    ),
    "validate without a model": lambda pkg, _: _trainer(pkg).validate(),
    "test without a model": lambda pkg, _: _trainer(pkg).test(),
    "predict without a model": lambda pkg, _: _trainer(pkg).predict(),
    "manual_backward under automatic optimization": lambda pkg, _: _attached(pkg).manual_backward(torch.ones(1)),
    "clip_gradients value against the Trainer's": lambda pkg, _: (
        m := _attached(pkg, gradient_clip_val=0.1)
    ).clip_gradients(_sgd(m), gradient_clip_val=0.5),
    "clip_gradients algorithm against the Trainer's": lambda pkg, _: (
        m := _attached(pkg, gradient_clip_algorithm="value")
    ).clip_gradients(_sgd(m), 0.5, "norm"),
    "clip_gradients with an unknown algorithm": lambda pkg, _: (m := _attached(pkg)).clip_gradients(
        _sgd(m), 0.5, "foo"
    ),
    "clip_gradients with a string value": lambda pkg, _: (m := _attached(pkg)).clip_gradients(_sgd(m), "big"),
    "Trainer with an unknown clipping algorithm": lambda pkg, _: _trainer(pkg, gradient_clip_algorithm="foo"),
    "setting dtype": lambda pkg, _: setattr(_boring(pkg).BoringModel(), "dtype", torch.float64),
    "trainer of a detached module": lambda pkg, _: _boring(pkg).BoringModel().trainer,
    "print on a detached module": lambda pkg, _: _boring(pkg).BoringModel().print("x"),
    "optimizers of a detached module": lambda pkg, _: _boring(pkg).BoringModel().optimizers(),
    "lr_schedulers of a detached module": lambda pkg, _: _boring(pkg).BoringModel().lr_schedulers(),
    "toggle_optimizer on a detached module": lambda pkg, _: (m := _boring(pkg).BoringModel()).toggle_optimizer(_sgd(m)),
    "log a string": lambda pkg, _: _boring(pkg).BoringModel().log("x", "text"),
    "log a nested dict": lambda pkg, _: _boring(pkg).BoringModel().log("x", {"a": {"b": 1}}),
    "to_torchscript with an unknown method": lambda pkg, _: _boring(pkg).BoringModel().to_torchscript(method="x"),
    "to_torchscript tracing without an example": lambda pkg, _: (
        _boring(pkg).BoringModel().to_torchscript(method="trace")
    ),
    "save_hparams_to_yaml into a missing folder": lambda pkg, tmp: importlib.import_module(
        f"{pkg.__name__}.core.saving"
    ).save_hparams_to_yaml(os.path.join(tmp, "missing", "h.yaml"), {"a": 1}),
    "save_hparams_to_tags_csv into a missing folder": lambda pkg, tmp: importlib.import_module(
        f"{pkg.__name__}.core.saving"
    ).save_hparams_to_tags_csv(os.path.join(tmp, "missing", "h.csv"), {"a": 1}),
    "GradClipAlgorithmType of an unknown value": lambda pkg, _: pkg.utilities.GradClipAlgorithmType("big"),
    "LightningEnum.from_str of an unknown name": lambda pkg, _: pkg.utilities.GradClipAlgorithmType.from_str("big"),
}


def _raised(pkg: ModuleType, case: str, tmp_path: Any) -> BaseException:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            _RAISING[case](pkg, tmp_path)
        except Exception as error:  # the error is what the test compares
            return error
    raise AssertionError(f"{pkg.__name__}: {case} raised nothing")


def _catches(lightning_class: type, error: BaseException) -> bool:
    """Whether ``except lightning_class`` written for Lightning catches shim's ``error`` under the import redirect."""
    if lightning_class.__module__ == "builtins":
        return isinstance(error, lightning_class)
    return lightning_class.__name__ in {cls.__name__ for cls in type(error).__mro__}


@pytest.mark.parametrize("case", sorted(_RAISING))
def test_error_class_matches_lightning(lightning: ModuleType, case: str, tmp_path: Any) -> None:
    (tmp_path / "lightning").mkdir()
    (tmp_path / "shim").mkdir()
    expected = type(_raised(lightning, case, tmp_path / "lightning"))
    error = _raised(shim, case, tmp_path / "shim")
    assert _catches(expected, error), f"Lightning raises {expected.__name__}, shim {type(error).__name__}: {error}"


def test_onnx_without_onnx_raises_module_not_found(lightning: ModuleType) -> None:
    if importlib.util.find_spec("onnx") is not None:
        pytest.skip("onnx is installed")
    for pkg in (lightning, shim):
        model = _boring(pkg).BoringModel()
        with pytest.raises(ModuleNotFoundError, match="onnx"):
            model.to_onnx("model.onnx", torch.randn(1, 32))


_WARNING: dict[str, Callable[[ModuleType, Any], Any]] = {
    "load_hparams_from_yaml of a missing file": lambda pkg, tmp: importlib.import_module(
        f"{pkg.__name__}.core.saving"
    ).load_hparams_from_yaml(os.path.join(tmp, "none.yaml")),
    "load_hparams_from_tags_csv of a missing file": lambda pkg, tmp: importlib.import_module(
        f"{pkg.__name__}.core.saving"
    ).load_hparams_from_tags_csv(os.path.join(tmp, "none.csv")),
    "log on a detached module": lambda pkg, _: _boring(pkg).BoringModel().log("x", 1.0),
    "an nn.Module hyper-parameter": lambda pkg, _: _saving(pkg)(a=torch.nn.Linear(1, 1)),
    "to_torchscript": lambda pkg, _: _boring(pkg).BoringModel().to_torchscript(),
}


def _warned(pkg: ModuleType, case: str, tmp_path: Any) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _WARNING[case](pkg, tmp_path)
    # torch's own deprecation of TorchScript is not part of the comparison
    return sorted(w.category.__name__ for w in caught if "torch.jit" not in str(w.message))


@pytest.mark.parametrize("case", sorted(_WARNING))
def test_warning_classes_match_lightning(lightning: ModuleType, case: str, tmp_path: Any) -> None:
    warned = _warned(shim, case, tmp_path)
    assert warned, f"shim warned nothing for {case}"
    assert warned == _warned(lightning, case, tmp_path)


_LOGGING_ERRORS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "log with neither on_step nor on_epoch": (
        "training_step",
        lambda m: m.log("x", 1.0, on_step=False, on_epoch=False),
    ),
    "log with an unknown reduce_fx": ("training_step", lambda m: m.log("x", 1.0, reduce_fx="median")),
    "log a name with a dataloader suffix": ("training_step", lambda m: m.log("x/dataloader_idx_0", 1.0)),
    "log a tensor of two elements": ("training_step", lambda m: m.log("x", torch.ones(2))),
    "log in predict_step": ("predict_step", lambda m: m.log("x", 1.0)),
    "log in setup": ("setup", lambda m: m.log("x", 1.0)),
    "log on_step in on_train_start": ("on_train_start", lambda m: m.log("x", 1.0, on_step=True)),
    "log in configure_optimizers": ("configure_optimizers", lambda m: m.log("x", 1.0)),
}


def _logging_error(pkg: ModuleType, case: str, tmp_path: Any) -> BaseException:
    hook, call = _LOGGING_ERRORS[case]
    base = _boring(pkg).BoringModel

    def hooked(self: Any, *args: Any, **kwargs: Any) -> Any:
        call(self)
        return getattr(base, hook)(self, *args, **kwargs)

    model = type("Model", (base,), {hook: hooked})()
    trainer = _trainer(pkg, max_steps=1, limit_val_batches=0, default_root_dir=str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if hook == "predict_step":
                trainer.predict(model, dataloaders=model.train_dataloader())
            else:
                trainer.fit(model)
        except Exception as error:  # the error is what the test compares
            return error
    raise AssertionError(f"{pkg.__name__}: {case} raised nothing")


@pytest.mark.parametrize("case", sorted(_LOGGING_ERRORS))
def test_logging_error_class_matches_lightning(lightning: ModuleType, case: str, tmp_path: Any) -> None:
    expected = type(_logging_error(lightning, case, tmp_path))
    error = _logging_error(shim, case, tmp_path)
    assert _catches(expected, error), f"Lightning raises {expected.__name__}, shim {type(error).__name__}: {error}"
