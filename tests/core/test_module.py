"""LightningModule: logging rules, optimizer access, manual optimization, device tracking."""

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

import shim
from shim.demos.boring_classes import BoringModel, RandomDataset
from shim.loops.optimization.automatic import Closure
from shim.utilities.exceptions import MisconfigurationException


def _trainer(**kwargs: Any) -> shim.Trainer:
    defaults: dict[str, Any] = {
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "max_epochs": 1,
        "limit_train_batches": 2,
        "limit_val_batches": 2,
        "num_sanity_val_steps": 0,
    }
    return shim.Trainer(**{**defaults, **kwargs})


def _model_logging_in(hook: str, log: Callable[[shim.LightningModule], None]) -> BoringModel:
    class Model(BoringModel):
        pass

    def hooked(self: BoringModel, *args: Any, **kwargs: Any) -> Any:
        log(self)
        return getattr(BoringModel, hook)(self, *args, **kwargs)

    setattr(Model, hook, hooked)
    return Model()


@pytest.mark.parametrize(
    ("hook", "log", "error", "message"),
    [
        ("training_step", lambda m: m.log("d", {"a": 1}), ValueError, "dict values cannot be logged"),
        ("training_step", lambda m: m.log("s", "text"), ValueError, "values of type str cannot be logged"),
        ("training_step", lambda m: m.log("t", torch.ones(2)), ValueError, "must have one element"),
        (
            "training_step",
            lambda m: m.log("x", 1.0, on_step=False, on_epoch=False),
            MisconfigurationException,
            "logs nothing",
        ),
        (
            "training_step",
            lambda m: m.log("x", 1.0, reduce_fx="median"),
            MisconfigurationException,
            "reduce_fx='median'",
        ),
        (
            "training_step",
            lambda m: m.log("x/dataloader_idx_0", 1.0),
            MisconfigurationException,
            "must not contain '/dataloader_idx_'",
        ),
        ("on_train_epoch_end", lambda m: m.log("x", 1.0, on_step=True), MisconfigurationException, "on_step"),
        (
            "configure_optimizers",
            lambda m: m.log("x", 1.0),
            MisconfigurationException,
            "called from `configure_optimizers`",
        ),
        ("on_fit_start", lambda m: m.log("x", 1.0), MisconfigurationException, "called from `on_fit_start`"),
    ],
)
def test_log_rejects(hook: str, log: Callable[[Any], None], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        _trainer().fit(_model_logging_in(hook, log))


def test_log_twice_with_different_arguments() -> None:
    def log(m: Any) -> None:
        m.log("x", 1.0)
        m.log("x", 1.0, prog_bar=True)

    with pytest.raises(MisconfigurationException, match="twice"):
        _trainer().fit(_model_logging_in("training_step", log))


def test_log_tensor_with_changed_arguments_in_a_later_batch() -> None:
    # a repeated call takes a remembered path; a call whose arguments changed must still be caught
    class Model(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            self.log("x", torch.tensor(1.0), prog_bar=batch_idx > 0)
            return super().training_step(batch, batch_idx)

    with pytest.raises(MisconfigurationException, match="twice"):
        _trainer().fit(Model())


def test_log_tensor_with_unhashable_argument_names_it() -> None:
    log = _model_logging_in("training_step", lambda m: m.log("x", torch.tensor(1.0), on_step=[True]))  # type: ignore
    with pytest.raises(MisconfigurationException, match="on_step"):
        _trainer().fit(log)


@pytest.mark.parametrize("as_tensor", [False, True])
def test_repeated_log_calls_keep_step_and_epoch_values(as_tensor: bool) -> None:
    class Model(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            value = torch.tensor(float(batch_idx)) if as_tensor else float(batch_idx)
            self.log("step_value", value)
            self.log("epoch_value", value, on_step=False, on_epoch=True)
            return super().training_step(batch, batch_idx)

    trainer = _trainer(limit_train_batches=1.0, limit_val_batches=0)
    # batch sizes 4, 4, 2: the epoch value is (0*4 + 1*4 + 2*2) / 10; the step value is the last batch's
    trainer.fit(Model(), DataLoader(RandomDataset(32, 10), batch_size=4))
    assert trainer.callback_metrics["epoch_value"].item() == pytest.approx(0.8)
    assert trainer.callback_metrics["step_value"].item() == 2.0


def test_log_without_trainer_warns_and_does_nothing() -> None:
    with pytest.warns(UserWarning, match="not attached to a Trainer"):
        BoringModel().log("x", 1.0)


def test_logged_int_becomes_float_tensor() -> None:
    trainer = _trainer()
    trainer.fit(_model_logging_in("training_step", lambda m: m.log("a_val", 2)))
    value = trainer.callback_metrics["a_val"]
    assert value.dtype == torch.float32
    assert value.item() == 2.0


def test_epoch_mean_is_weighted_by_batch_size() -> None:
    class Model(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            self.log("value", float(batch_idx), on_step=False, on_epoch=True)
            return super().training_step(batch, batch_idx)

    trainer = _trainer(limit_train_batches=1.0)
    # batch sizes 4, 4, 2: (0*4 + 1*4 + 2*2) / 10
    trainer.fit(Model(), DataLoader(RandomDataset(32, 10), batch_size=4))
    assert trainer.callback_metrics["value"].item() == pytest.approx(0.8)


@pytest.mark.parametrize(("reduce_fx", "expected"), [("sum", 3.0), ("max", 2.0), ("min", 0.0), (torch.max, 2.0)])
def test_reduce_fx(reduce_fx: Any, expected: float) -> None:
    class Model(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            self.log("value", float(batch_idx), on_step=False, on_epoch=True, reduce_fx=reduce_fx)
            return super().training_step(batch, batch_idx)

    trainer = _trainer(limit_train_batches=3)
    trainer.fit(Model())
    assert trainer.callback_metrics["value"].item() == expected


def test_optimizers_and_schedulers_accessors() -> None:
    seen: dict[str, Any] = {}

    class Model(BoringModel):
        def on_train_start(self) -> None:
            seen["optimizer"] = self.optimizers()
            seen["raw"] = self.optimizers(use_pl_optimizer=False)
            seen["scheduler"] = self.lr_schedulers()

    _trainer().fit(Model())
    assert isinstance(seen["optimizer"], torch.optim.SGD)
    assert type(seen["optimizer"]).__name__ == "LightningSGD"
    assert type(seen["raw"]) is torch.optim.SGD
    assert isinstance(seen["scheduler"], torch.optim.lr_scheduler.StepLR)


class TwoOptimizers(BoringModel):
    """A GAN-shaped manual loop: two optimizers, each stepped every batch."""

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.other = torch.nn.Linear(32, 2)

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        opt_a, opt_b = self.optimizers()
        for opt, layer in ((opt_a, self.layer), (opt_b, self.other)):
            self.toggle_optimizer(opt)
            loss = self.loss(layer(batch))
            self.manual_backward(loss)
            opt.step()
            opt.zero_grad()
            self.untoggle_optimizer(opt)
        return None

    def configure_optimizers(self) -> Any:
        return [torch.optim.SGD(self.layer.parameters(), lr=0.1), torch.optim.SGD(self.other.parameters(), lr=0.1)]


def test_manual_optimization_with_two_optimizers_matches_plain_loop() -> None:
    torch.manual_seed(0)
    model = TwoOptimizers()
    data = torch.randn(4, 32)
    torch.manual_seed(0)
    reference = TwoOptimizers()
    trainer = _trainer(limit_train_batches=1.0)
    trainer.fit(model, DataLoader(data, batch_size=2))
    assert trainer.global_step == 4  # every optimizer.step() counts, as in Lightning
    opts = [
        torch.optim.SGD(reference.layer.parameters(), lr=0.1),
        torch.optim.SGD(reference.other.parameters(), lr=0.1),
    ]
    for batch in DataLoader(data, batch_size=2):
        for opt, layer in zip(opts, (reference.layer, reference.other), strict=True):
            loss = reference.loss(layer(batch))
            loss.backward()
            opt.step()
            opt.zero_grad()
    for (name, value), expected in zip(model.state_dict().items(), reference.state_dict().values(), strict=True):
        torch.testing.assert_close(value, expected, rtol=0, atol=0, msg=name)


def test_manual_backward_under_automatic_optimization() -> None:
    class Model(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            self.manual_backward(self.step(batch))

    with pytest.raises(MisconfigurationException, match="manual optimization"):
        _trainer().fit(Model())


def test_gradient_clipping_with_manual_optimization_is_rejected() -> None:
    from shim.demos.boring_classes import ManualOptimBoringModel

    with pytest.raises(MisconfigurationException, match="gradient_clip_val=1.0 needs automatic optimization"):
        _trainer(gradient_clip_val=1.0).fit(ManualOptimBoringModel())


def test_device_and_dtype_follow_the_module() -> None:
    model = BoringModel()
    assert model.device == torch.device("cpu")
    model.double()
    assert model.dtype == torch.float64
    assert model.layer.weight.dtype == torch.float64


def test_trainer_property_requires_attachment() -> None:
    with pytest.raises(RuntimeError, match="has no Trainer"):
        _ = BoringModel().trainer


def test_training_step_returning_none_skips_the_update() -> None:
    class Model(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            return None

    model = Model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = _trainer()
    Closure.warning_cache.clear()  # the warning is given once per process, as in Lightning
    with pytest.warns(UserWarning, match="returned `None`"):
        trainer.fit(model)
    assert trainer.global_step == 2  # Lightning still counts the (empty) optimizer step
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])


def test_exception_reaches_callbacks_and_propagates() -> None:
    seen: list[str] = []

    class Recorder(shim.Callback):
        def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
            seen.append(type(exception).__name__)

        def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
            seen.append("teardown")

    class Model(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            raise KeyError("bad batch")

    trainer = _trainer(callbacks=[Recorder()])
    with pytest.raises(KeyError, match="bad batch"):
        trainer.fit(Model())
    assert seen == ["KeyError"]
    assert trainer.interrupted
    assert trainer.state.stage is None


def test_should_stop_stops_after_the_batch() -> None:
    class Model(BoringModel):
        def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
            if batch_idx == 1:
                self.trainer.should_stop = True

    trainer = _trainer(max_epochs=5, limit_train_batches=10, limit_val_batches=0)
    trainer.fit(Model())
    assert trainer.global_step == 2
    assert trainer.current_epoch == 1


def test_freeze_and_unfreeze_return_the_module() -> None:
    model = BoringModel()
    assert model.freeze() is model
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())
    assert model.unfreeze() is model
    assert model.training
    assert all(p.requires_grad for p in model.parameters())


def test_print_needs_a_trainer() -> None:
    with pytest.raises(RuntimeError, match="has no Trainer"):
        BoringModel().print("hello")


def test_load_from_checkpoint_on_an_instance_raises() -> None:
    with pytest.raises(TypeError, match=r"call it on the class \(`BoringModel.load_from_checkpoint\(...\)`\)"):
        BoringModel().load_from_checkpoint("anything.ckpt")


def test_a_module_with_a_trainer_attached_can_be_scripted() -> None:
    model = BoringModel()
    model.trainer = _trainer()
    scripted = torch.jit.script(model)
    x = torch.randn(2, 32)
    assert torch.equal(scripted(x), model(x))


class _Fabric:
    global_rank = 3
    loggers: list[Any] = ["first", "second"]

    @property
    def logger(self) -> Any:
        return self.loggers[0]


def test_fabric_is_held_weakly_and_reaches_child_modules() -> None:
    import weakref

    ensemble, inner = shim.LightningModule(), shim.LightningModule()
    ensemble.inner = inner
    assert ensemble.fabric is None
    fabric = _Fabric()
    ensemble.fabric = fabric
    assert isinstance(inner.fabric, weakref.ProxyType)
    assert inner.fabric.global_rank == 3
    del fabric
    with pytest.raises(ReferenceError):
        _ = inner.fabric.global_rank


def test_under_fabric_trainer_reads_go_to_fabric() -> None:
    from shim.core.module import _TrainerFabricShim

    model = BoringModel()
    fabric = _Fabric()
    model._fabric = fabric  # what Fabric's setup() sets
    assert isinstance(model.trainer, _TrainerFabricShim)
    assert model.trainer.global_rank == 3
    with pytest.raises(AttributeError, match=r"`self\.trainer\.current_epoch` does not exist .* under Fabric"):
        _ = model.trainer.current_epoch
    assert (model.logger, model.loggers) == ("first", ["first", "second"])


def test_with_lightning_fabric() -> None:
    fabric_module = pytest.importorskip("lightning_fabric")
    model = BoringModel()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    fabric = fabric_module.Fabric(accelerator="cpu", devices=1)
    wrapped, wrapped_optimizer = fabric.setup(model, optimizer)
    assert wrapped.fabric is fabric
    assert wrapped.optimizers() is wrapped_optimizer
    assert wrapped.loggers == []
    with pytest.raises(IndexError):
        _ = wrapped.logger
    assert wrapped.trainer.world_size == 1
