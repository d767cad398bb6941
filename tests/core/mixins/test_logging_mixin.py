"""self.log / self.log_dict on a module that Lightning Fabric set up: values go to Fabric's loggers."""

from typing import Any

import pytest
import torch

from shim.demos.boring_classes import BoringModel


class _Fabric:
    """What a module under Fabric talks to: ``log_dict`` and the loggers."""

    def __init__(self) -> None:
        self.logged: list[dict[str, Any]] = []
        self.loggers: list[Any] = []

    def log_dict(self, metrics: dict[str, Any]) -> None:
        self.logged.append(metrics)


def _module() -> tuple[BoringModel, _Fabric]:
    model, fabric = BoringModel(), _Fabric()
    model.fabric = fabric
    return model, fabric


def test_values_reach_fabric_as_they_were_given() -> None:
    model, fabric = _module()
    tensor = torch.tensor(0.5)
    model.log("int", 1)
    model.log_dict({"float": 0.1, "tensor": tensor})
    assert fabric.logged == [{"int": 1}, {"float": 0.1, "tensor": tensor}]
    assert fabric.logged[1]["tensor"] is tensor


def test_logger_false_sends_nothing() -> None:
    model, fabric = _module()
    model.log("x", 1, logger=False)
    model.log_dict({"y": 2}, logger=False)
    assert fabric.logged == []


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: m.log("bad", [1, 2]), "type list cannot be logged"),
        (lambda m: m.log_dict({"nested": {"a": 1}}), "nested dictionaries cannot be logged"),
        (lambda m: m.log("metric", object()), "type object cannot be logged"),
    ],
)
def test_values_fabric_cannot_log_are_rejected(call: Any, message: str) -> None:
    model, fabric = _module()
    with pytest.raises(ValueError, match=message):
        call(model)
    assert fabric.logged == []


def test_asking_for_a_logger_without_one_warns(tmp_path: Any) -> None:
    import shim

    class Model(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            self.log("with_logger", 1.0, logger=True)
            self.log("default", 1.0)  # logger=None: no warning
            return super().training_step(batch, batch_idx)

    trainer = shim.Trainer(max_steps=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                           limit_val_batches=0, default_root_dir=str(tmp_path))  # fmt: skip
    with pytest.warns(UserWarning, match="asks for a logger") as caught:
        trainer.fit(Model())
    about_logger = [str(w.message) for w in caught if "asks for a logger" in str(w.message)]
    # one per call, as Lightning warns on every such call (the warnings filter then shows it once)
    assert (
        about_logger
        == [
            "`self.log('with_logger', ..., logger=True)` asks for a logger, but the Trainer has none: the value reaches"
            " the progress bar and the callbacks only. Pass `Trainer(logger=...)` to record it."
        ]
        * 2
    )
    assert trainer.callback_metrics["with_logger"].item() == 1.0


def test_log_finds_the_loop_when_the_stage_was_set_on_the_state_directly() -> None:
    import torch

    import shim
    from shim.demos.boring_classes import BoringModel
    from shim.trainer.states import RunningStage

    model, trainer = BoringModel(), shim.Trainer(logger=False)
    trainer.state.stage = RunningStage.TRAINING
    model._current_fx_name = "training_step"
    model.trainer = trainer
    model.log("foo", torch.tensor([1.5]), on_epoch=True)
    assert trainer.callback_metrics["foo"].ndim == 0
    assert trainer.callback_metrics["foo"].item() == 1.5
