"""The optimization API of a LightningModule: optimizer access, toggling, gradient clipping, and Fabric's route."""

from typing import Any
from unittest.mock import Mock

import pytest
import torch
from torch import nn

import shim
from shim.demos.boring_classes import BoringModel
from shim.utilities.enums import GradClipAlgorithmType
from shim.utilities.exceptions import MisconfigurationException


class ThreeLayers(BoringModel):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(2, 2)
        self.b.bias.requires_grad = False  # frozen by the user: toggling must leave it frozen


def _with_optimizers(model: ThreeLayers) -> list[torch.optim.Optimizer]:
    optimizers = [
        torch.optim.SGD([*model.a.parameters(), *model.b.parameters()], lr=0.1),
        torch.optim.SGD([*model.b.parameters(), *model.c.parameters()], lr=0.1),
    ]
    model.trainer = Mock(optimizers=optimizers)
    return optimizers


def _flags(model: ThreeLayers) -> dict[str, bool]:
    return {name: p.requires_grad for name, p in model.named_parameters() if name[0] in "abc"}


def test_toggle_keeps_only_the_toggled_optimizers_parameters_trainable() -> None:
    model = ThreeLayers()
    first, second = _with_optimizers(model)
    assert model._param_requires_grad_state == {}
    model.toggle_optimizer(first)
    assert _flags(model) == {
        "a.weight": True, "a.bias": True, "b.weight": True, "b.bias": False, "c.weight": False, "c.bias": False,
    }  # fmt: skip
    # every parameter of every optimizer is recorded, the toggled optimizer's too
    assert len(model._param_requires_grad_state) == 6
    model.untoggle_optimizer(first)
    assert _flags(model) == {
        "a.weight": True, "a.bias": True, "b.weight": True, "b.bias": False, "c.weight": True, "c.bias": True,
    }  # fmt: skip
    assert model._param_requires_grad_state == {}


def test_toggled_optimizer_restores_on_leaving_the_block_even_on_error() -> None:
    model = ThreeLayers()
    _, second = _with_optimizers(model)
    seen: list[bool] = []

    def fail_inside() -> None:
        with model.toggled_optimizer(second):
            seen.append(model.a.weight.requires_grad)
            raise KeyError("inside")

    with pytest.raises(KeyError):
        fail_inside()
    assert seen == [False]
    assert model.a.weight.requires_grad
    assert not model.b.bias.requires_grad


def test_untoggle_accepts_the_lightning_optimizer_wrapper() -> None:
    model = ThreeLayers()
    first, _ = _with_optimizers(model)
    wrapped = shim.core.optimizer.LightningOptimizer(first)
    model.toggle_optimizer(wrapped)
    model.untoggle_optimizer(wrapped)
    assert model.c.weight.requires_grad


def test_optimizers_unwraps_a_single_optimizer_only() -> None:
    model = BoringModel()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model.trainer = Mock(optimizers=[optimizer], strategy=Mock(_lightning_optimizers=[optimizer]))
    assert model.optimizers(use_pl_optimizer=False) is optimizer
    model.trainer = Mock(optimizers=[optimizer, optimizer])
    assert model.optimizers(use_pl_optimizer=False) == [optimizer, optimizer]
    odd = Mock()  # what a mocked Trainer answers is returned as it is
    model.trainer = Mock(optimizers=odd)
    assert model.optimizers(use_pl_optimizer=False) is odd


def _clipping_model(**trainer_kwargs: Any) -> tuple[BoringModel, torch.optim.Optimizer]:
    model = BoringModel()
    model.trainer = shim.Trainer(logger=False, enable_checkpointing=False, **trainer_kwargs)
    model.layer.weight.grad = torch.full_like(model.layer.weight, 3.0)
    model.layer.bias.grad = torch.full_like(model.layer.bias, -3.0)
    return model, torch.optim.SGD(model.parameters(), lr=0.1)


def test_clip_gradients_by_value_and_by_norm() -> None:
    model, optimizer = _clipping_model()
    model.clip_gradients(optimizer, gradient_clip_val=0.5, gradient_clip_algorithm="VALUE")
    assert model.layer.weight.grad.max().item() == 0.5
    assert model.layer.bias.grad.min().item() == -0.5
    model, optimizer = _clipping_model()
    model.clip_gradients(optimizer, gradient_clip_val=1.0)  # norm by default
    grads = torch.cat([p.grad.flatten() for p in model.parameters()])
    assert torch.linalg.vector_norm(grads).item() == pytest.approx(1.0, abs=1e-5)


def test_clip_gradients_takes_the_trainers_flags_when_not_given() -> None:
    model, optimizer = _clipping_model(gradient_clip_val=0.25, gradient_clip_algorithm="value")
    model.clip_gradients(optimizer)
    assert model.layer.weight.grad.max().item() == 0.25
    model, optimizer = _clipping_model()
    model.clip_gradients(optimizer)  # no value anywhere: nothing is clipped
    assert model.layer.weight.grad.max().item() == 3.0


@pytest.mark.parametrize(
    ("trainer_kwargs", "clip_kwargs", "error", "message"),
    [
        ({"gradient_clip_val": 0.1}, {"gradient_clip_val": 0.5}, MisconfigurationException, r"gradient_clip_val=0\.1"),
        ({"gradient_clip_algorithm": "norm"}, {"gradient_clip_algorithm": "value"}, MisconfigurationException,
         "gradient_clip_algorithm='norm'"),
        ({}, {"gradient_clip_val": 0.5, "gradient_clip_algorithm": "l2"}, MisconfigurationException, "'l2'"),
        ({}, {"gradient_clip_val": "big"}, TypeError, "'big'"),
    ],
)  # fmt: skip
def test_clip_gradients_rejects(trainer_kwargs: Any, clip_kwargs: Any, error: type[Exception], message: str) -> None:
    model, optimizer = _clipping_model(**trainer_kwargs)
    with pytest.raises(error, match=message):
        model.clip_gradients(optimizer, **clip_kwargs)


def test_the_same_values_as_the_trainers_are_accepted() -> None:
    model, optimizer = _clipping_model(gradient_clip_val=0.5, gradient_clip_algorithm="Value")
    model.clip_gradients(optimizer, gradient_clip_val=0.5, gradient_clip_algorithm="value")
    assert model.layer.weight.grad.max().item() == 0.5


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [(GradClipAlgorithmType.VALUE, {"clip_val": 0.1, "max_norm": None}), ("norm", {"clip_val": None, "max_norm": 0.1})],
)
def test_under_fabric_clipping_and_backward_go_through_fabric(algorithm: Any, expected: dict[str, Any]) -> None:
    model = BoringModel()
    fabric = Mock()
    model._fabric = fabric  # what Fabric's setup() sets
    optimizer = Mock()
    model.clip_gradients(optimizer, gradient_clip_val=0.1, gradient_clip_algorithm=algorithm)
    fabric.clip_gradients.assert_called_once_with(model, optimizer, **expected)
    loss = torch.ones(1, requires_grad=True)
    model.manual_backward(loss, retain_graph=True)  # no automatic-optimization check under Fabric
    model.backward(loss)
    assert fabric.backward.call_count == 2
    fabric.backward.assert_called_with(loss)
    model._fabric_optimizers = [torch.optim.SGD(model.parameters(), lr=0.1)]
    assert model.optimizers() is model._fabric_optimizers[0]
