"""``MPSAccelerator``: the Apple GPU is chosen for ``"mps"``, ``"gpu"`` and ``"auto"`` when torch reports it.

No Mac runs these tests, so the ones that need the GPU pretend torch found one; building a Trainer does not touch
the device.
"""

import pytest
import torch

import shim
from shim.accelerators import CPUAccelerator, CUDAAccelerator, MPSAccelerator
from shim.plugins.precision.amp import MixedPrecision
from shim.utilities.exceptions import MisconfigurationException


@pytest.fixture
def apple_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)


@pytest.mark.usefixtures("apple_gpu")
@pytest.mark.parametrize("accelerator", ["mps", "gpu", "auto"])
@pytest.mark.parametrize("devices", [1, "1", -1, "auto", [0], "0,"])
def test_the_apple_gpu_is_chosen_when_available(accelerator: str, devices: object) -> None:
    trainer = shim.Trainer(accelerator=accelerator, devices=devices, logger=False)
    assert isinstance(trainer.accelerator, MPSAccelerator)
    assert trainer.device_ids == [0]
    assert trainer.num_devices == 1
    assert trainer.strategy.root_device == torch.device("mps", 0)


@pytest.mark.usefixtures("apple_gpu")
@pytest.mark.parametrize("devices", [2, [1], "0,1"])
def test_a_mac_has_one_gpu(devices: object) -> None:
    with pytest.raises(MisconfigurationException, match="devices="):
        shim.Trainer(accelerator="mps", devices=devices)


@pytest.mark.usefixtures("apple_gpu")
@pytest.mark.parametrize("accelerator", ["mps", "auto"])
@pytest.mark.parametrize("strategy", ["ddp", "ddp_spawn"])
def test_ddp_is_refused_on_the_apple_gpu(accelerator: str, strategy: str) -> None:
    with pytest.raises(ValueError, match="MPS"):
        shim.Trainer(accelerator=accelerator, strategy=strategy)


@pytest.mark.usefixtures("apple_gpu")
def test_ddp_on_the_cpu_stays_possible_on_a_mac() -> None:
    trainer = shim.Trainer(accelerator="cpu", strategy="ddp", devices=2, logger=False)
    assert isinstance(trainer.accelerator, CPUAccelerator)


@pytest.mark.usefixtures("apple_gpu")
@pytest.mark.parametrize("accelerator", ["mps", "gpu", "auto", MPSAccelerator()])
def test_mixed_precision_autocasts_on_the_apple_gpu(accelerator: object) -> None:
    trainer = shim.Trainer(accelerator=accelerator, devices=1, precision="bf16-mixed", logger=False)
    plugin = trainer.strategy.precision_plugin
    assert isinstance(plugin, MixedPrecision)
    assert plugin.device == "mps"


def test_mps_is_refused_where_torch_has_no_apple_gpu() -> None:
    if MPSAccelerator.is_available():
        pytest.skip("this machine has an Apple GPU")
    with pytest.raises(MisconfigurationException, match="mps"):
        shim.Trainer(accelerator="mps")
    auto = shim.Trainer(logger=False).accelerator
    assert isinstance(auto, CUDAAccelerator if CUDAAccelerator.is_available() else CPUAccelerator)


def test_setup_device_accepts_only_mps_devices() -> None:
    with pytest.raises(MisconfigurationException, match="mps"):
        MPSAccelerator().setup_device(torch.device("cpu"))
    MPSAccelerator().setup_device(torch.device("mps", 0))
    assert MPSAccelerator.get_parallel_devices([0]) == [torch.device("mps", 0)]
    assert MPSAccelerator.auto_device_count() == 1
