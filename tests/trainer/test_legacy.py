"""Lightning 1.x Trainer arguments and module hooks keep working, with 1.9's warnings."""

from typing import Any

import pytest
import torch

import shim
from shim.demos.boring_classes import BoringModel
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.rank_zero import LightningDeprecationWarning


def _trainer(**kwargs: Any) -> shim.Trainer:
    defaults: dict[str, Any] = {
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "max_epochs": 2,
        "limit_train_batches": 3,
        "limit_val_batches": 2,
    }
    return shim.Trainer(**{**defaults, **kwargs})


def test_epoch_end_hooks_get_the_step_outputs() -> None:
    seen: dict[str, Any] = {"train": [], "val": []}

    class Model(BoringModel):
        def training_step_end(self, output: Any) -> Any:
            return {"loss": output["loss"], "extra": torch.tensor(1.0)}

        def training_epoch_end(self, outputs: list[Any]) -> None:
            seen["train"].append(len(outputs))
            assert sorted(outputs[0]) == ["extra", "loss"]
            self.log("train_mean", torch.stack([o["loss"] for o in outputs]).mean())

        def validation_step(self, batch: Any, batch_idx: int) -> Any:
            return {"x": self.step(batch)}

        def validation_step_end(self, output: Any) -> Any:
            return output["x"] * 2

        def validation_epoch_end(self, outputs: list[Any]) -> None:
            seen["val"].append(len(outputs))
            self.log("val_double", torch.stack(outputs).mean())

    trainer = _trainer(num_sanity_val_steps=1)
    trainer.fit(Model())
    assert seen == {"train": [3, 3], "val": [1, 2, 2]}  # the sanity check runs validation_epoch_end too
    assert {"train_mean", "val_double"} <= set(trainer.callback_metrics)


def test_test_epoch_end_with_two_loaders() -> None:
    seen = []

    class Model(BoringModel):
        def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Any:
            return self.step(batch)

        def test_epoch_end(self, outputs: list[Any]) -> None:
            seen.append([len(o) for o in outputs])

        def test_dataloader(self) -> Any:
            return [super().test_dataloader(), super().test_dataloader()]

    _trainer(limit_test_batches=2).test(Model(), verbose=False)
    assert seen == [[2, 2]]


def test_track_grad_norm_logs_1x_names_and_values() -> None:
    with pytest.warns(LightningDeprecationWarning, match="track_grad_norm"):
        trainer = _trainer(track_grad_norm=2, max_epochs=1, limit_train_batches=1, limit_val_batches=0)
    model = BoringModel()
    norms: dict[str, float] = {}

    class Spy(shim.Callback):
        def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Any) -> None:
            for name, p in pl_module.named_parameters():
                norms[name] = p.grad.norm(2).item()

    trainer.callbacks.append(Spy())
    trainer.fit(model)
    logged = trainer.callback_metrics
    total = torch.tensor(list(norms.values())).norm(2).item()
    assert logged["grad_2.0_norm/layer.weight_step"].item() == pytest.approx(round(norms["layer.weight"], 4))
    assert logged["grad_2.0_norm_total_step"].item() == pytest.approx(round(total, 4), abs=1e-4)


@pytest.mark.parametrize(
    ("kwargs", "accelerator", "devices"),
    [({"num_processes": 1}, "CPUAccelerator", 1), ({"gpus": 0}, "CPUAccelerator", 1), ({"gpus": None}, None, None)],
)
def test_device_flags_map_to_accelerator_and_devices(kwargs: dict[str, Any], accelerator: Any, devices: Any) -> None:
    trainer = shim.Trainer(**kwargs)
    if accelerator is not None:
        assert type(trainer.accelerator).__name__ == accelerator
        assert trainer.num_devices == devices


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without a GPU")
def test_gpus_without_gpu_warns_then_names_the_request() -> None:
    with (
        pytest.warns(LightningDeprecationWarning, match=r"Trainer\(gpus=2\)"),
        pytest.raises(MisconfigurationException, match="no CUDA GPU"),
    ):
        shim.Trainer(gpus=2)


def test_replace_sampler_ddp_maps_to_use_distributed_sampler() -> None:
    with pytest.warns(LightningDeprecationWarning, match="replace_sampler_ddp"):
        trainer = shim.Trainer(replace_sampler_ddp=False)
    assert trainer.use_distributed_sampler is False


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ipus": 8}, "ipus=8"),
        ({"amp_backend": "foo"}, "amp_backend='foo'"),
        ({"track_grad_norm": -3}, "track_grad_norm=-3"),
        ({"auto_scale_batch_size": "linear"}, "auto_scale_batch_size='linear'"),
        ({"multiple_trainloader_mode": "zip"}, "multiple_trainloader_mode='zip'"),
        ({"num_processes": 2, "accelerator": "gpu"}, "accelerator='gpu'"),
    ],
)
def test_bad_1x_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(MisconfigurationException, match=message):
        shim.Trainer(**kwargs)


def test_1x_settings_are_kept() -> None:
    with pytest.warns(LightningDeprecationWarning):
        trainer = shim.Trainer(auto_lr_find=True, auto_scale_batch_size="binsearch", move_metrics_to_cpu=True)
    assert (trainer.auto_lr_find, trainer.auto_scale_batch_size, trainer.move_metrics_to_cpu) == (
        True,
        "binsearch",
        True,
    )


def test_epoch_end_outputs_are_the_ones_lightning_19_gave() -> None:
    # Lightning 1.9.5 printed these for the same script: the accumulation-normalised, detached losses
    expected_losses = [0.27763, 0.08888, 0.56911, 0.39669]
    seen: list[Any] = []

    class Model(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            return {"loss": self.step(batch), "extra": torch.tensor(float(batch_idx))}

        def training_epoch_end(self, outputs: list[Any]) -> None:
            seen.extend(outputs)

    torch.manual_seed(0)
    _trainer(max_epochs=1, limit_train_batches=4, limit_val_batches=0, accumulate_grad_batches=2).fit(Model())
    assert [round(o["loss"].item(), 5) for o in seen] == expected_losses
    assert [o["extra"].item() for o in seen] == [0.0, 1.0, 2.0, 3.0]
    assert not any(o["loss"].requires_grad for o in seen)
