import pytest

from shim import Callback, LightningDataModule, LightningModule
from shim.utilities.model_helpers import is_overridden


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
