"""Strategy: the context new tensors are created in."""

import torch

from shim.plugins.precision.double import DoublePrecision
from shim.strategies.single_device import SingleDeviceStrategy


def test_tensor_init_context_sets_the_device_and_the_precisions_dtype() -> None:
    strategy = SingleDeviceStrategy("meta", precision_plugin=DoublePrecision())
    with strategy.tensor_init_context():
        tensor = torch.empty(2)
        layer = torch.nn.Linear(2, 2)
    assert (tensor.device.type, tensor.dtype) == ("meta", torch.float64)
    assert (layer.weight.device.type, layer.weight.dtype) == ("meta", torch.float64)
    assert (torch.empty(1).device.type, torch.get_default_dtype()) == ("cpu", torch.float32)


def test_model_sharded_context_does_nothing_without_sharding() -> None:
    with SingleDeviceStrategy("cpu").model_sharded_context():
        layer = torch.nn.Linear(2, 2)
    assert layer.weight.device.type == "cpu"
