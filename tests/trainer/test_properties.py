"""The Trainer's callback properties find the same callbacks as Lightning's."""

from types import ModuleType
from typing import Any

import shim
from shim.callbacks import EarlyStopping, ModelCheckpoint


def test_early_stopping_callbacks_are_found_in_order(tmp_path: Any) -> None:
    first, second = EarlyStopping("a"), EarlyStopping("b", mode="max")
    trainer = shim.Trainer(default_root_dir=tmp_path, callbacks=[ModelCheckpoint(), first, second], logger=False)
    assert trainer.early_stopping_callbacks == [first, second]
    assert trainer.early_stopping_callback is first
    plain = shim.Trainer(default_root_dir=tmp_path, logger=False)
    assert plain.early_stopping_callbacks == []
    assert plain.early_stopping_callback is None


def test_early_stopping_properties_match_lightning(lightning: ModuleType, tmp_path: Any) -> None:
    def found(pkg: ModuleType) -> tuple[list[str], str | None]:
        callbacks = [pkg.callbacks.EarlyStopping("a"), pkg.callbacks.Timer(), pkg.callbacks.EarlyStopping("b")]
        trainer = pkg.Trainer(default_root_dir=tmp_path, callbacks=callbacks, logger=False)
        first = trainer.early_stopping_callback
        return [cb.monitor for cb in trainer.early_stopping_callbacks], first.monitor if first else None

    assert found(shim) == found(lightning) == (["a", "b"], "a")
