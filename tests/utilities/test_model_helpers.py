import functools
from unittest import mock

import pytest

import shim
from shim import Callback, LightningDataModule, LightningModule
from shim.utilities.model_helpers import is_overridden, runs_other_code


class Model(LightningModule):
    def training_step(self, batch, batch_idx):
        return None


class Data(LightningDataModule):
    def train_dataloader(self):
        return []


class CountingCallback(Callback):
    def on_train_start(self, trainer, pl_module):
        pass


def test_class_override_counts_and_inherited_hook_does_not():
    model = Model()
    assert is_overridden("training_step", model)
    assert is_overridden("training_step", model, LightningModule)
    assert not is_overridden("validation_step", model)
    assert is_overridden("train_dataloader", Data())
    assert not is_overridden("val_dataloader", Data())
    assert is_overridden("on_train_start", CountingCallback())
    assert not is_overridden("on_train_end", CountingCallback())


def test_hook_assigned_on_the_instance_counts():
    model = Model()
    model.validation_step = lambda batch, batch_idx: None
    assert is_overridden("validation_step", model)
    assert not is_overridden("validation_step", Model())


def test_no_instance_is_never_overridden():
    assert not is_overridden("training_step", None)


def test_unknown_instance_without_parent_names_the_type():
    with pytest.raises(ValueError, match="is_overridden\\('forward'\\).*object"):
        is_overridden("forward", object())
    assert not is_overridden("forward", object(), object)


def test_a_hook_patched_with_a_plain_mock_is_not_an_override_but_must_be_called():
    # Lightning's is_overridden looks through a mock to what it wraps: a mock that wraps nothing is no override.
    # Deciding which hooks to call is stricter: a mock may be there to count calls, so it must be called
    with mock.patch.object(Callback, "on_train_end") as patched:
        assert not is_overridden("on_train_end", CountingCallback())
        assert runs_other_code("on_train_end", CountingCallback(), Callback)
        assert runs_other_code("on_train_end", Callback(), Callback)
    assert not patched.called
    assert not runs_other_code("on_train_end", CountingCallback(), Callback)
    with mock.patch.object(Model, "validation_step"):
        assert not is_overridden("validation_step", Model())
        assert runs_other_code("validation_step", Model(), LightningModule)


def test_wrappers_count_as_what_they_wrap():
    model = Model()
    base = LightningModule.validation_step
    model.validation_step = functools.partial(base, model)
    assert not is_overridden("validation_step", model)
    model.validation_step = mock.Mock(wraps=model.training_step)
    assert is_overridden("validation_step", model)
    model.validation_step = functools.wraps(base)(lambda *args: None)
    assert not is_overridden("validation_step", model)
    model.validation_step = None
    assert not is_overridden("validation_step", model)
    # every one of these is a replacement that the trainer must call
    for replacement in (functools.partial(base, model), mock.Mock(wraps=base), functools.wraps(base)(lambda *a: 0)):
        model.validation_step = replacement
        assert runs_other_code("validation_step", model, LightningModule)


def test_is_overridden_agrees_with_lightning(lightning):
    from pytorch_lightning.utilities.model_helpers import is_overridden as lightning_is_overridden

    def cases(pkg):
        class Module(pkg.LightningModule):
            def training_step(self, batch, batch_idx):
                return None

        plain, wrapped, partial_, mocked, off = Module(), Module(), Module(), Module(), Module()
        wrapped.validation_step = functools.wraps(pkg.LightningModule.validation_step)(lambda *a: None)
        partial_.training_step = functools.partial(Module.training_step, partial_)
        mocked.test_step = mock.Mock(wraps=plain.training_step)
        off.training_step = None
        return [(name, model) for name in ("training_step", "validation_step", "test_step")
                for model in (plain, wrapped, partial_, mocked, off)]  # fmt: skip

    expected = [lightning_is_overridden(name, model) for name, model in cases(lightning)]
    assert [is_overridden(name, model) for name, model in cases(shim)] == expected
    assert expected.count(True) == 5


def test_a_module_hook_patched_on_lightning_module_is_called_by_fit():
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    import shim

    class Regression(LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch, batch_idx):
            x, y = batch
            return torch.nn.functional.mse_loss(self.layer(x), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    trainer = shim.Trainer(
        max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[CountingCallback()],
    )  # fmt: skip
    data = DataLoader(TensorDataset(torch.randn(6, 2), torch.randn(6, 1)), batch_size=2)
    with (
        mock.patch.object(LightningModule, "on_train_batch_end") as hook,
        mock.patch.object(Callback, "on_train_batch_start") as callback_hook,
    ):
        trainer.fit(Regression(), data)
    assert hook.call_count == 3
    assert callback_hook.call_count == 3


def test_a_hook_set_to_none_on_the_class_is_switched_off() -> None:
    from shim.demos.boring_classes import BoringModel

    class NoValidation(BoringModel):
        validation_step = None  # type: ignore[assignment]

    assert not runs_other_code("validation_step", NoValidation(), LightningModule)
    assert not is_overridden("validation_step", NoValidation())


def test_restricted_classmethod_runs_on_the_class_and_refuses_an_instance() -> None:
    import inspect

    from shim.utilities.model_helpers import _restricted_classmethod

    class Restricted:
        @_restricted_classmethod
        def build(cls, value: int = 1) -> tuple[type, int]:
            return cls, value

    assert Restricted.build(2) == (Restricted, 2)
    method = Restricted().build  # reading it is fine, as inspect.getmembers does
    inspect.getmembers(Restricted())
    with pytest.raises(TypeError, match=r"call it on the class \(`Restricted\.build\(\.\.\.\)`\)"):
        method()


def test_every_hook_of_a_mock_callback_must_be_called():
    callback = mock.Mock(spec=Callback)
    assert runs_other_code("on_train_start", callback, Callback)
    assert runs_other_code("on_validation_batch_end", callback, Callback)
