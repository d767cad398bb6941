"""A LightningModule passed through ``torch.compile``: trained with its forward compiled, saved as the plain one."""

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

import shim
from shim.demos.boring_classes import BoringModel, RandomDataset
from shim.utilities.compile import from_compiled, to_uncompiled

_QUIET: dict[str, Any] = {
    "logger": False,
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "accelerator": "cpu",
}


class _Counter:
    """A torch.compile backend that runs the captured graph as is and counts the graphs it was given."""

    def __init__(self) -> None:
        self.graphs = 0

    def __call__(self, graph: torch.fx.GraphModule, example_inputs: Any) -> Any:
        self.graphs += 1
        return graph.forward


class _LoggingModel(BoringModel):
    def training_step(self, batch: Any, batch_idx: int) -> Any:
        loss = self.step(batch)
        self.log("train_loss", loss)
        return loss


def _fit(model: Any, tmp_path: Path, max_epochs: int = 2, ckpt_path: Any = None) -> shim.Trainer:
    trainer = shim.Trainer(max_epochs=max_epochs, limit_train_batches=4, limit_val_batches=2,
                           default_root_dir=tmp_path, enable_checkpointing=False, **_QUIET)  # fmt: skip
    trainer.fit(model, DataLoader(RandomDataset(32, 64), batch_size=4), DataLoader(RandomDataset(32, 16)),
                ckpt_path=ckpt_path)  # fmt: skip
    return trainer


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_a_compiled_model_trains_to_the_same_weights_as_the_plain_one(tmp_path: Path) -> None:
    torch.manual_seed(0)
    plain = _LoggingModel()
    _fit(plain, tmp_path)
    torch.manual_seed(0)
    model = _LoggingModel()
    trainer = _fit(torch.compile(model, backend="eager"), tmp_path)
    assert trainer.lightning_module is model
    assert "train_loss" in trainer.callback_metrics
    trained = _weights(model)
    assert trained.keys() == _weights(plain).keys()
    for key, value in _weights(plain).items():
        torch.testing.assert_close(trained[key], value, rtol=1e-6, atol=1e-7)


def test_self_call_runs_the_compiled_forward(tmp_path: Path) -> None:
    counter = _Counter()
    model = _LoggingModel()
    compiled = torch.compile(model, backend=counter)
    trainer = shim.Trainer(fast_dev_run=True, **_QUIET)
    trainer.fit(compiled)
    assert counter.graphs > 0  # the compiler saw the graphs `training_step`/`self(...)` captured
    assert hasattr(model.forward, "_torchdynamo_orig_callable")
    trainer.test(compiled)
    trainer.predict(compiled)


def test_compiling_again_does_not_wrap_twice(tmp_path: Path) -> None:
    model = BoringModel()
    original_forward = model.forward
    from_compiled(torch.compile(model, backend="eager"))
    from_compiled(torch.compile(model, backend="eager"))
    assert model.forward._torchdynamo_orig_callable is original_forward.__func__  # type: ignore[attr-defined]


def test_a_copy_of_a_compiled_module_runs_its_own_weights() -> None:
    model = BoringModel()
    from_compiled(torch.compile(model, backend="eager"))
    copied = copy.deepcopy(model)
    with torch.no_grad():
        copied.layer.weight.zero_()
        copied.layer.bias.zero_()
    assert hasattr(copied.forward, "_torchdynamo_orig_callable")
    assert torch.equal(copied(torch.ones(1, 32)), torch.zeros(1, 2))
    assert not torch.equal(model(torch.ones(1, 32)), torch.zeros(1, 2))
    assert to_uncompiled(copied) is copied
    assert copied.forward == BoringModel.forward.__get__(copied)


def test_to_uncompiled_puts_the_original_methods_back() -> None:
    model = BoringModel()
    compiled = torch.compile(model, backend="eager")
    assert from_compiled(compiled) is model
    assert model.training_step != BoringModel.training_step.__get__(model)
    assert to_uncompiled(compiled) is model
    for name in ("forward", "training_step", "validation_step", "test_step", "predict_step"):
        assert getattr(model, name) == getattr(BoringModel, name).__get__(model)
        assert not hasattr(getattr(model, name), "_torchdynamo_orig_callable")
    with pytest.raises(ValueError, match="compiled LightningModule"):
        to_uncompiled(model)


def test_what_is_not_a_compiled_lightning_module_is_refused() -> None:
    with pytest.raises(ValueError, match="torch.compile"):
        from_compiled(BoringModel())
    with pytest.raises(ValueError, match="Linear"):
        from_compiled(torch.compile(torch.nn.Linear(2, 2), backend="eager"))
    with pytest.raises(TypeError, match="Linear"):
        to_uncompiled(torch.compile(torch.nn.Linear(2, 2), backend="eager"))
    with pytest.raises(ValueError, match="LightningModule"):
        to_uncompiled(object())
    trainer = shim.Trainer(fast_dev_run=True, **_QUIET)
    with pytest.raises(ValueError, match="Linear"):  # as in Lightning: a compiled module of the wrong kind
        trainer.fit(torch.compile(torch.nn.Linear(2, 2), backend="eager"))
    with pytest.raises(TypeError, match="must be a `LightningModule`"):
        trainer.fit(object())  # type: ignore[arg-type]


def test_a_compiled_fit_checkpoints_plain_keys_that_load_into_an_uncompiled_model(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = BoringModel()
    trainer = _fit(torch.compile(model, backend="eager"), tmp_path)
    trainer.save_checkpoint(tmp_path / "compiled.ckpt")
    checkpoint = torch.load(tmp_path / "compiled.ckpt", weights_only=False)
    assert set(checkpoint["state_dict"]) == {"layer.weight", "layer.bias"}
    loaded = BoringModel.load_from_checkpoint(tmp_path / "compiled.ckpt")
    torch.testing.assert_close(_weights(loaded), _weights(model), rtol=0, atol=0)
    # resuming with the plain model continues from the compiled run's weights and counters
    resumed = BoringModel()
    trainer = _fit(resumed, tmp_path, max_epochs=3, ckpt_path=tmp_path / "compiled.ckpt")
    assert trainer.global_step == 12


def test_a_plain_checkpoint_loads_into_a_compiled_model(tmp_path: Path) -> None:
    torch.manual_seed(0)
    plain = BoringModel()
    trainer = _fit(plain, tmp_path)
    trainer.save_checkpoint(tmp_path / "plain.ckpt")
    model = BoringModel()
    trainer = shim.Trainer(default_root_dir=tmp_path, **_QUIET)
    trainer.validate(torch.compile(model, backend="eager"), DataLoader(RandomDataset(32, 8)),
                     ckpt_path=tmp_path / "plain.ckpt", verbose=False)  # fmt: skip
    torch.testing.assert_close(_weights(model), _weights(plain), rtol=0, atol=0)
    resumed = BoringModel()
    trainer = _fit(torch.compile(resumed, backend="eager"), tmp_path, max_epochs=3, ckpt_path=tmp_path / "plain.ckpt")
    assert trainer.global_step == 12


def test_import_shim_does_not_load_dynamo() -> None:
    snippet = "import sys, torch, shim; print('torch._dynamo' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
