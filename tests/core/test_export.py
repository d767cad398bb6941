"""Exporting a LightningModule: TorchScript by scripting or tracing, ONNX and TensorRT's availability checks."""

import importlib.util
import warnings
from typing import Any

import pytest
import torch

from shim.demos.boring_classes import BoringModel
from shim.utilities.rank_zero import LightningDeprecationWarning


class Recording(BoringModel):
    """Records the batches its transfer hooks see, so the export can be seen to send the example through them."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, tuple[int, ...]]] = []

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        self.seen.append(("before", tuple(batch.shape)))
        return batch

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        self.seen.append(("after", tuple(batch.shape)))
        return batch


def _quiet(call: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call()


def test_to_torchscript_warns_deprecation_and_keeps_the_mode(tmp_path: Any) -> None:
    model = BoringModel()
    x = torch.randn(3, 32)
    with pytest.warns(LightningDeprecationWarning, match=r"torch\.export\.export"):
        scripted = model.to_torchscript(file_path=tmp_path / "model.pt")
    assert model.training
    assert not scripted.training
    assert torch.equal(scripted(x), model(x))
    assert torch.equal(torch.jit.load(str(tmp_path / "model.pt"))(x), model(x))


def test_tracing_uses_the_example_input_array_through_the_transfer_hooks() -> None:
    model = Recording()
    model.example_input_array = torch.randn(2, 32)
    traced = _quiet(lambda: model.to_torchscript(method="trace"))
    x = torch.randn(4, 32)
    assert torch.equal(traced(x), model(x))
    _quiet(lambda: model.to_torchscript(method="trace", example_inputs=torch.randn(1, 32)))
    assert model.seen == [("before", (2, 32)), ("after", (2, 32)), ("before", (1, 32)), ("after", (1, 32))]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"method": "compile"}, "method='compile'"), ({"method": "trace"}, "needs an example input")],
)
def test_to_torchscript_rejects(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _quiet(lambda: BoringModel().to_torchscript(**kwargs))


@pytest.mark.skipif(importlib.util.find_spec("onnx") is not None, reason="onnx is installed")
def test_to_onnx_without_onnx() -> None:
    with pytest.raises(ModuleNotFoundError, match=r"`BoringModel.to_onnx\(\)` needs the `onnx` package"):
        BoringModel().to_onnx("model.onnx", torch.randn(1, 32))


@pytest.mark.skipif(importlib.util.find_spec("onnx") is None, reason="needs onnx")
def test_to_onnx_needs_an_example(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="needs an example input"):
        BoringModel().to_onnx(tmp_path / "model.onnx")


@pytest.mark.skipif(importlib.util.find_spec("torch_tensorrt") is not None, reason="torch_tensorrt is installed")
def test_to_tensorrt_without_torch_tensorrt() -> None:
    with pytest.raises(ModuleNotFoundError, match="torch_tensorrt"):
        BoringModel().to_tensorrt(input_sample=torch.randn(1, 32))
