"""Precision on a CUDA GPU: float16 AMP with a GradScaler, bfloat16, true half and double, and device placement."""

import warnings
from types import ModuleType
from typing import Any

import pytest
import torch

import shim
from shim.plugins.precision import MixedPrecision
from tests.plugins.test_precision import _QUIET, _data, _regressor_class

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU, and torch.cuda.is_available() is False here"
)


def _recording_class(pkg: ModuleType) -> type:
    """The CPU tests' regressor, also recording where batches, parameters and optimizer state live."""

    class OnDevice(_regressor_class(pkg)):  # type: ignore[misc]
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.batch_devices: set[str] = set()
            self.param_places: set[tuple[str, torch.dtype]] = set()
            self.state_devices: set[str] = set()

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            self.batch_devices.update(t.device.type for t in batch)
            self.param_places.update((p.device.type, p.dtype) for p in self.parameters())
            return super().training_step(batch, batch_idx)

        def on_train_end(self) -> None:
            for state in self.trainer.optimizers[0].state.values():
                self.state_devices.update(v.device.type for v in state.values() if isinstance(v, torch.Tensor))

    return OnDevice


def _fit_on_gpu(pkg: ModuleType, model: Any, max_epochs: int = 2, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = pkg.Trainer(accelerator="gpu", devices=1, max_epochs=max_epochs, **{**_QUIET, **kwargs})
        trainer.fit(model, _data())
    return trainer


def test_16_mixed_uses_a_cuda_grad_scaler_and_places_everything_on_the_gpu() -> None:
    model = _recording_class(shim)()
    trainer = _fit_on_gpu(shim, model, precision="16-mixed")
    assert trainer.precision == "16-mixed"
    plugin = trainer.precision_plugin
    assert isinstance(plugin, MixedPrecision)
    assert plugin.device == "cuda"
    assert isinstance(trainer.scaler, torch.amp.GradScaler)
    assert trainer.scaler.is_enabled()
    assert model.batch_devices == {"cuda"}
    assert model.param_places == {("cuda", torch.float32)}  # float32 weights; autocast computes in float16
    assert {out for _, _, out in model.step_dtypes} == {torch.float16}
    assert model.state_devices == {"cuda"}  # SGD momentum buffers next to the weights


def test_16_mixed_on_cuda_skips_exactly_the_overflowing_step() -> None:
    scaler = torch.amp.GradScaler("cuda", init_scale=2.0**10)
    model = _recording_class(shim)(overflow_at=1, scheduler=True)
    _fit_on_gpu(shim, model, max_epochs=1, precision=MixedPrecision("16-mixed", "cuda", scaler=scaler))
    weights = model.weights_after_batch
    assert torch.equal(weights[1], weights[0])
    assert not torch.equal(weights[2], weights[1])
    assert model.scheduler_steps == [1, 1, 2, 3]
    assert model.global_steps == [1, 2, 3, 4]
    assert scaler.get_scale() == 2.0**9


@pytest.mark.skipif(not torch.cuda.is_available() or not torch.cuda.is_bf16_supported(), reason="needs bfloat16")
def test_bf16_mixed_on_cuda_autocasts_without_a_scaler() -> None:
    model = _recording_class(shim)()
    trainer = _fit_on_gpu(shim, model, precision="bf16-mixed")
    assert trainer.precision == "bf16-mixed"
    assert trainer.scaler is None
    assert model.param_places == {("cuda", torch.float32)}
    assert {out for _, _, out in model.step_dtypes} == {torch.bfloat16}


@pytest.mark.parametrize(
    ("precision", "dtype"), [("16-true", torch.float16), ("bf16-true", torch.bfloat16), ("64-true", torch.float64)]
)
def test_true_precisions_on_cuda(precision: str, dtype: torch.dtype) -> None:
    if dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bfloat16")
    model = _recording_class(shim)()
    trainer = _fit_on_gpu(shim, model, max_epochs=1, precision=precision)
    assert trainer.precision == precision
    assert model.batch_devices == {"cuda"}
    assert model.param_places == {("cuda", dtype)}
    assert set(model.step_dtypes) == {(dtype, dtype, dtype)}
    assert model.state_devices == {"cuda"}


@pytest.mark.parametrize("precision", ["16-mixed", "bf16-mixed", "64-true"])
def test_same_weights_as_lightning_on_cuda(lightning: ModuleType, precision: str) -> None:
    if precision.startswith("bf16") and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bfloat16")
    results = {}
    for pkg in (lightning, shim):
        model = _regressor_class(pkg)(optimizer="adam")
        trainer = _fit_on_gpu(pkg, model, precision=precision)
        results[pkg.__name__] = (trainer.precision, model.state_dict(), trainer.scaler is None)
    ours, theirs = results["shim"], results["pytorch_lightning"]
    assert ours[0] == theirs[0]
    assert ours[2] == theirs[2]
    for key, value in theirs[1].items():
        # the same kernels on the same data; a tolerance only for cuBLAS choosing another algorithm between runs
        torch.testing.assert_close(ours[1][key].cpu(), value.cpu(), rtol=1e-5, atol=1e-6)
