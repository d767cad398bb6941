"""Precision on the CPU: the ``precision`` resolver, 64/16/bf16 training, the gradient scaler, Lightning's numbers."""

import importlib
import warnings
from types import ModuleType
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import shim
from shim.accelerators.resolve import resolve_precision
from shim.plugins.precision import DoublePrecision, HalfPrecision, MixedPrecision, Precision
from shim.plugins.precision.precision import DefaultDtype
from shim.utilities.exceptions import MisconfigurationException

_QUIET = {
    "logger": False,
    "enable_checkpointing": False,
    "enable_progress_bar": False,
    "enable_model_summary": False,
}


def _data(n: int = 32, batch_size: int = 8) -> DataLoader:
    generator = torch.Generator().manual_seed(7)
    x = torch.randn(n, 4, generator=generator)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1 * torch.randn(n, 1, generator=generator)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size)


def _regressor_class(pkg: ModuleType) -> type:
    """A small regressor for ``pkg`` (shim or pytorch_lightning) that records what each step saw."""

    class Regressor(pkg.LightningModule):  # type: ignore[name-defined]
        def __init__(self, overflow_at: int | None = None, scheduler: bool = False, optimizer: str = "sgd") -> None:
            super().__init__()
            torch.manual_seed(0)
            self.net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
            self.overflow_at = overflow_at
            self.use_scheduler = scheduler
            self.optimizer_name = optimizer
            self.losses: list[float] = []
            self.step_dtypes: list[tuple[torch.dtype, torch.dtype, torch.dtype]] = []
            self.grads_before_step: list[torch.Tensor] = []
            self.weights_after_batch: list[torch.Tensor] = []
            self.global_steps: list[int] = []
            self.scheduler_steps: list[int] = []

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            out = self.net(x)
            self.step_dtypes.append((x.dtype, torch.get_default_dtype(), out.dtype))
            loss = nn.functional.mse_loss(out, y)
            self.losses.append(loss.item())
            if batch_idx == self.overflow_at:
                loss = loss * float("inf")  # every gradient becomes inf or NaN
            return loss

        @property
        def first_weight(self) -> torch.Tensor:
            layer = self.net[0]
            assert isinstance(layer, nn.Linear)
            return layer.weight

        def on_before_optimizer_step(self, optimizer: Any) -> None:
            grad = self.first_weight.grad  # None after a training_step that returned None
            self.grads_before_step.append(grad.detach().clone() if grad is not None else torch.zeros(()))

        def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
            self.weights_after_batch.append(self.first_weight.detach().clone())
            self.global_steps.append(self.trainer.global_step)
            if self.use_scheduler:
                self.scheduler_steps.append(self.lr_schedulers().last_epoch)

        def configure_optimizers(self) -> Any:
            if self.optimizer_name == "adam":
                optimizer: torch.optim.Optimizer = torch.optim.Adam(self.parameters(), lr=0.01)
            else:
                optimizer = torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.5)
            if not self.use_scheduler:
                return optimizer
            scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.9)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    return Regressor


Regressor = _regressor_class(shim)


def _fit(pkg: ModuleType, model: Any, max_epochs: int = 2, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dataloader-worker and precision-alias notices are not under test here
        trainer = pkg.Trainer(accelerator="cpu", max_epochs=max_epochs, **{**_QUIET, **kwargs})
        trainer.fit(model, _data())
    return trainer


_INIT_SCALE = 2.0**10  # small enough that only the batches made to overflow do (2**16 overflows float16 here)


def _cpu_scaler_plugin() -> MixedPrecision:
    return MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu", init_scale=_INIT_SCALE))


# ------------------------------------------------------------------------------------------------------------
# the resolver
# ------------------------------------------------------------------------------------------------------------
_ALIAS_NOTE = "old spelling"
_CPU_FP16_NOTE = "no float16 support"

# (precision, accelerator, plugin class, trainer.precision, warnings expected, in order)
RESOLVED = [
    (None, "cpu", Precision, "32-true", []),
    ("32-true", "cpu", Precision, "32-true", []),
    (32, "cpu", Precision, "32-true", []),
    ("32", "cpu", Precision, "32-true", []),
    ("64-true", "cpu", DoublePrecision, "64-true", []),
    (64, "cpu", DoublePrecision, "64-true", []),
    ("64", "cpu", DoublePrecision, "64-true", []),
    ("16-true", "cpu", HalfPrecision, "16-true", []),
    ("bf16-true", "cpu", HalfPrecision, "bf16-true", []),
    ("bf16-mixed", "cpu", MixedPrecision, "bf16-mixed", []),
    ("bf16", "cpu", MixedPrecision, "bf16-mixed", [_ALIAS_NOTE]),
    ("16-mixed", "cpu", MixedPrecision, "bf16-mixed", [_CPU_FP16_NOTE]),
    (16, "cpu", MixedPrecision, "bf16-mixed", [_ALIAS_NOTE, _CPU_FP16_NOTE]),
    ("16", "cpu", MixedPrecision, "bf16-mixed", [_ALIAS_NOTE, _CPU_FP16_NOTE]),
    ("bf16-mixed", "gpu", MixedPrecision, "bf16-mixed", []),
]


@pytest.mark.parametrize(("precision", "accelerator", "plugin_class", "resolved", "notes"), RESOLVED)
def test_resolve_precision(
    precision: Any, accelerator: str, plugin_class: type, resolved: str, notes: list[str]
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plugin = resolve_precision(precision, accelerator)
    assert type(plugin) is plugin_class
    assert plugin.precision == resolved
    messages = [str(w.message) for w in caught]
    assert len(messages) == len(notes), messages
    for message, note in zip(messages, notes, strict=True):
        assert note in message


@pytest.mark.parametrize(("accelerator", "device"), [("cpu", "cpu"), ("gpu", "cuda"), ("cuda", "cuda")])
def test_mixed_precision_autocasts_for_the_accelerator(accelerator: str, device: str) -> None:
    plugin = resolve_precision("bf16-mixed", accelerator)
    assert isinstance(plugin, MixedPrecision)
    assert plugin.device == device
    assert plugin.scaler is None


def test_16_mixed_on_cuda_gets_a_scaler() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch disables a CUDA GradScaler (with a warning) on machines without CUDA
        plugin = resolve_precision("16-mixed", "gpu")
    assert isinstance(plugin, MixedPrecision)
    assert (plugin.precision, plugin.device) == ("16-mixed", "cuda")
    assert isinstance(plugin.scaler, torch.amp.GradScaler)


def test_a_plugin_instance_is_used_as_given() -> None:
    plugin = _cpu_scaler_plugin()
    assert resolve_precision(plugin, "cpu") is plugin
    trainer = shim.Trainer(accelerator="cpu", precision=plugin, **_QUIET)
    assert trainer.precision_plugin is plugin
    assert trainer.precision == "16-mixed"
    assert trainer.scaler is plugin.scaler


@pytest.mark.parametrize("precision", ["foo", 8, 16.0, True, " 16-mixed", "16-MIXED", "transformer-engine", "64-mixed"])
def test_resolve_precision_rejects(precision: Any) -> None:
    with pytest.raises(ValueError, match=r"precision=.*is not supported; choose one of \['16-true'") as info:
        resolve_precision(precision, "cpu")
    assert repr(precision) in str(info.value)
    with pytest.raises(ValueError, match="is not supported"):
        shim.Trainer(accelerator="cpu", precision=precision, **_QUIET)


def test_plugin_constructors_check_their_precision() -> None:
    with pytest.raises(ValueError, match="'32-true'"):
        MixedPrecision("32-true", "cpu")  # type: ignore[arg-type]
    with pytest.raises(MisconfigurationException, match="no gradient scaler"):
        MixedPrecision("bf16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu"))
    with pytest.raises(ValueError, match="'64-true'"):
        HalfPrecision("64-true")  # type: ignore[arg-type]
    assert HalfPrecision().precision == "16-true"


def test_trainer_scaler_is_none_without_float16_amp() -> None:
    for precision in ("32-true", "64-true", "bf16-mixed", "bf16-true"):
        assert shim.Trainer(accelerator="cpu", precision=precision, **_QUIET).scaler is None


def test_exports_mirror_lightning_names() -> None:
    import shim.plugins
    import shim.plugins.precision

    implemented = {"DoublePrecision", "HalfPrecision", "MixedPrecision", "Precision"}
    assert set(shim.plugins.precision.__all__) == implemented
    assert implemented <= set(shim.plugins.__all__)
    for name in implemented:
        assert getattr(shim.plugins, name) is getattr(shim.plugins.precision, name)


# ------------------------------------------------------------------------------------------------------------
# training in each precision
# ------------------------------------------------------------------------------------------------------------
def test_default_dtype_context_restores_and_nests() -> None:
    context = DefaultDtype(torch.float64)
    with context:
        assert torch.get_default_dtype() == torch.float64
        with DefaultDtype(torch.float16), context:
            assert torch.get_default_dtype() == torch.float64
        assert torch.get_default_dtype() == torch.float64
    assert torch.get_default_dtype() == torch.float32


def test_64_true_matches_a_float64_hand_written_loop() -> None:
    model = Regressor()
    trainer = _fit(shim, model, precision="64-true")
    assert trainer.precision == "64-true"
    assert all(p.dtype == torch.float64 for p in model.parameters())
    # inputs converted, and tensors created inside the step default to float64; the default is restored after
    assert set(model.step_dtypes) == {(torch.float64, torch.float64, torch.float64)}
    assert torch.get_default_dtype() == torch.float32

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.5)
    for _ in range(2):
        for x, y in _data():
            optimizer.zero_grad()
            nn.functional.mse_loss(net(x.double()), y.double()).backward()
            optimizer.step()
    for ours, reference in zip(model.net.state_dict().values(), net.state_dict().values(), strict=True):
        assert ours.dtype == torch.float64
        torch.testing.assert_close(ours, reference, rtol=0, atol=0)


@pytest.mark.parametrize(("precision", "dtype"), [("bf16-true", torch.bfloat16), ("16-true", torch.float16)])
def test_half_true_trains_in_the_half_dtype(precision: str, dtype: torch.dtype) -> None:
    model = Regressor()
    trainer = _fit(shim, model, max_epochs=1, precision=precision)
    assert trainer.precision == precision
    assert all(p.dtype == dtype for p in model.parameters())
    assert set(model.step_dtypes) == {(dtype, dtype, dtype)}
    assert torch.get_default_dtype() == torch.float32


def test_bf16_mixed_loss_curve_stays_close_to_fp32() -> None:
    # bfloat16 keeps 8 significant bits (relative rounding ~0.4%); over 16 steps the per-step losses of this
    # regression stay within 5% (relative) of float32's, and the weights stay float32
    fp32, bf16 = Regressor(optimizer="adam"), Regressor(optimizer="adam")
    _fit(shim, fp32, max_epochs=4, precision="32-true")
    trainer = _fit(shim, bf16, max_epochs=4, precision="bf16-mixed")
    assert trainer.precision == "bf16-mixed"
    assert trainer.scaler is None
    assert all(p.dtype == torch.float32 for p in bf16.parameters())
    assert set(bf16.step_dtypes) == {(torch.float32, torch.float32, torch.bfloat16)}  # autocast, float inputs
    assert bf16.losses[-1] < 0.5 * bf16.losses[0]  # it learns
    torch.testing.assert_close(torch.tensor(bf16.losses), torch.tensor(fp32.losses), rtol=0.05, atol=0.0)
    assert bf16.losses != fp32.losses  # and it really ran in bfloat16


# ------------------------------------------------------------------------------------------------------------
# the gradient scaler (float16 autocast and torch.amp.GradScaler both run on the CPU)
# ------------------------------------------------------------------------------------------------------------
def test_scaler_skips_exactly_the_overflowing_step() -> None:
    model = Regressor(overflow_at=1, scheduler=True)
    plugin = _cpu_scaler_plugin()
    skipped: list[bool] = []

    class RecordSkips(shim.Callback):
        def on_train_batch_end(self, *args: Any) -> None:
            skipped.append(plugin.is_last_step_skipped)

    trainer = _fit(shim, model, max_epochs=1, precision=plugin, callbacks=[RecordSkips()])
    assert trainer.scaler is plugin.scaler
    assert skipped == [False, True, False, False]
    weights = model.weights_after_batch
    assert torch.equal(weights[1], weights[0])  # the skipped step left the weights alone
    assert not torch.equal(weights[2], weights[1])
    assert not torch.equal(weights[3], weights[2])
    # the scheduler does not step for the skipped step; global_step counts it, as Lightning's does
    assert model.scheduler_steps == [1, 1, 2, 3]
    assert model.global_steps == [1, 2, 3, 4]
    assert plugin.scaler is not None
    assert plugin.scaler.get_scale() == _INIT_SCALE * 0.5  # backed off once
    # on_before_optimizer_step sees unscaled gradients: nothing like the 2**10 loss scale
    finite = [g for i, g in enumerate(model.grads_before_step) if i != 1]
    assert all(g.abs().max() < 100 for g in finite)
    assert not torch.isfinite(model.grads_before_step[1]).all()


def test_scaler_gradients_match_fp32_after_unscaling() -> None:
    fp32, fp16 = Regressor(), Regressor()
    _fit(shim, fp32, max_epochs=1)
    _fit(shim, fp16, max_epochs=1, precision=_cpu_scaler_plugin())
    # float16 autocast rounds activations (~1e-3 relative); the unscaled gradients agree to that
    torch.testing.assert_close(fp16.grads_before_step[0], fp32.grads_before_step[0], rtol=2e-2, atol=2e-3)


def test_scaler_with_training_step_returning_none_skips_unscale_and_step() -> None:
    class SkipSecond(Regressor):  # type: ignore[misc, valid-type]
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            loss = super().training_step(batch, batch_idx)
            return None if batch_idx == 1 else loss

    model = SkipSecond()
    plugin = _cpu_scaler_plugin()
    _fit(shim, model, max_epochs=1, precision=plugin)
    assert torch.equal(model.weights_after_batch[1], model.weights_after_batch[0])
    assert plugin.scaler is not None
    assert plugin.scaler.get_scale() == _INIT_SCALE


def test_scaler_rejects_lbfgs() -> None:
    class WithLBFGS(Regressor):  # type: ignore[misc, valid-type]
        def configure_optimizers(self) -> Any:
            return torch.optim.LBFGS(self.parameters())

    with pytest.raises(MisconfigurationException, match="LBFGS"):
        _fit(shim, WithLBFGS(), max_epochs=1, precision=_cpu_scaler_plugin())


def test_scaler_state_round_trips_through_a_checkpoint(tmp_path: Any) -> None:
    plugin = _cpu_scaler_plugin()
    trainer = _fit(shim, Regressor(overflow_at=1), max_epochs=1, precision=plugin)
    assert plugin.scaler is not None
    saved_state = plugin.scaler.state_dict()
    assert saved_state["scale"] == _INIT_SCALE / 2
    assert saved_state["_growth_tracker"] == 2
    path = tmp_path / "amp.ckpt"
    trainer.save_checkpoint(path)
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint["MixedPrecision"] == saved_state  # Lightning's key: the plugin's class name

    class RecordScalerAtStart(Regressor):  # type: ignore[misc, valid-type]
        def on_train_start(self) -> None:
            self.scaler_at_start = self.trainer.scaler.state_dict()

    resumed_plugin = _cpu_scaler_plugin()
    model = RecordScalerAtStart()
    resumed = shim.Trainer(accelerator="cpu", max_epochs=2, precision=resumed_plugin, **_QUIET)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        resumed.fit(model, _data(), ckpt_path=path)
    assert model.scaler_at_start == saved_state


def test_lightning_1x_scaler_key_is_restored(tmp_path: Any) -> None:
    trainer = _fit(shim, Regressor(), max_epochs=1, precision=_cpu_scaler_plugin())
    path = tmp_path / "old.ckpt"
    trainer.save_checkpoint(path)
    checkpoint = torch.load(path, weights_only=True)
    legacy_state = {**checkpoint.pop("MixedPrecision"), "scale": 8.0}
    checkpoint["native_amp_scaling_state"] = legacy_state
    torch.save(checkpoint, path)
    plugin = _cpu_scaler_plugin()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = shim.Trainer(accelerator="cpu", max_epochs=1, precision=plugin, **_QUIET)
        trainer.fit(Regressor(), _data(), ckpt_path=path)
    assert plugin.scaler is not None
    assert plugin.scaler.state_dict()["scale"] == 8.0


# ------------------------------------------------------------------------------------------------------------
# against real Lightning
# ------------------------------------------------------------------------------------------------------------
def _final_weights(pkg: ModuleType, precision: Any, **kwargs: Any) -> tuple[str, dict[str, torch.Tensor], Any]:
    model = _regressor_class(pkg)(**kwargs)
    trainer = _fit(pkg, model, precision=precision)
    return trainer.precision, model.state_dict(), model


@pytest.mark.parametrize("precision", ["64-true", "bf16-mixed", "16-mixed", "bf16-true", 16, "bf16", 64])
def test_same_weights_as_lightning(lightning: ModuleType, precision: Any) -> None:
    theirs_precision, theirs, _ = _final_weights(lightning, precision, optimizer="adam")
    ours_precision, ours, _ = _final_weights(shim, precision, optimizer="adam")
    assert ours_precision == theirs_precision
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert ours[key].dtype == theirs[key].dtype
        torch.testing.assert_close(ours[key], theirs[key], rtol=0, atol=0)


@pytest.mark.parametrize("precision", [p[0] for p in RESOLVED if p[1] == "cpu"])
def test_same_precision_string_and_plugin_as_lightning(lightning: ModuleType, precision: Any) -> None:
    with warnings.catch_warnings(record=True) as caught_theirs:
        warnings.simplefilter("always")
        theirs = lightning.Trainer(accelerator="cpu", precision=precision, **_QUIET)
    with warnings.catch_warnings(record=True) as caught_ours:
        warnings.simplefilter("always")
        ours = shim.Trainer(accelerator="cpu", precision=precision, **_QUIET)
    assert ours.precision == theirs.precision
    assert type(ours.precision_plugin).__name__ == type(theirs.precision_plugin).__name__
    assert (ours.scaler is None) == (theirs.scaler is None)
    assert [w.category for w in caught_ours] == [w.category for w in caught_theirs if "litlogger" not in str(w.message)]


def test_lightning_rejects_the_same_values(lightning: ModuleType) -> None:
    for precision in ["foo", 8, True, " 16-mixed", "16-MIXED"]:
        with pytest.raises(ValueError, match="invalid"):
            lightning.Trainer(accelerator="cpu", precision=precision, **_QUIET)


def _scaler_plugin_for(pkg: ModuleType) -> Any:
    module = importlib.import_module(f"{pkg.__name__}.plugins.precision")
    return module.MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu", init_scale=_INIT_SCALE))


def _scaler_run(pkg: ModuleType, manual: bool) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    base = _regressor_class(pkg)

    class Manual(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__(overflow_at=1)
            self.automatic_optimization = False

        def training_step(self, batch: Any, batch_idx: int) -> None:
            optimizer = self.optimizers()
            optimizer.zero_grad()
            self.manual_backward(super().training_step(batch, batch_idx))
            self.clip_gradients(optimizer, gradient_clip_val=0.5, gradient_clip_algorithm="norm")
            optimizer.step()

    model = Manual() if manual else base(overflow_at=1)
    plugin = _scaler_plugin_for(pkg)
    kwargs: dict[str, Any] = {} if manual else {"gradient_clip_val": 0.5}
    place = {"plugins": [plugin]} if pkg.__name__ == "pytorch_lightning" else {"precision": plugin}
    trainer = pkg.Trainer(accelerator="cpu", max_epochs=2, **place, **kwargs, **_QUIET)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(model, _data())
    return model.state_dict(), plugin.scaler.state_dict(), {"global_step": trainer.global_step}


@pytest.mark.parametrize("manual", [False, True], ids=["automatic", "manual"])
def test_scaler_with_overflow_and_clipping_matches_lightning(lightning: ModuleType, manual: bool) -> None:
    # no scheduler here: Lightning 2.6.6 steps schedulers even on a step the scaler skipped, shim does not
    theirs = _scaler_run(lightning, manual)
    ours = _scaler_run(shim, manual)
    for key in theirs[0]:
        torch.testing.assert_close(ours[0][key], theirs[0][key], rtol=0, atol=0)
    assert ours[1] == theirs[1]
    assert ours[2] == theirs[2]


def test_checkpoint_scaler_key_matches_lightning(lightning: ModuleType, tmp_path: Any) -> None:
    keys = {}
    for pkg in (lightning, shim):
        plugin = _scaler_plugin_for(pkg)
        place = {"plugins": [plugin]} if pkg is lightning else {"precision": plugin}
        trainer = pkg.Trainer(accelerator="cpu", max_epochs=1, **place, **_QUIET)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer.fit(_regressor_class(pkg)(overflow_at=0), _data())
        trainer.save_checkpoint(tmp_path / f"{pkg.__name__}.ckpt")
        checkpoint = torch.load(tmp_path / f"{pkg.__name__}.ckpt", weights_only=False)
        keys[pkg.__name__] = {k: v for k, v in checkpoint.items() if k == "MixedPrecision"}
    assert keys["shim"] == keys["pytorch_lightning"]
    assert keys["shim"]["MixedPrecision"]["scale"] == _INIT_SCALE / 2


@pytest.mark.parametrize("where", ["instance", "base class"])
def test_convert_input_replaced_on_the_plugin_or_its_base_is_applied_on_cpu(
    where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # on the CPU with nothing overridden the batch transfer is skipped; a replaced `convert_input` must still run
    seen: list[torch.dtype] = []

    def convert_input(self: Precision, data: Any) -> Any:
        seen.append(data[0].dtype)
        return [data[0].double(), data[1].double()]

    class Model(shim.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.Linear(2, 1).double()

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            assert batch[0].dtype == torch.float64
            return nn.functional.mse_loss(self.layer(batch[0]), batch[1])

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    trainer = shim.Trainer(
        max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False
    )
    if where == "instance":
        monkeypatch.setattr(trainer.precision_plugin, "convert_input", convert_input.__get__(trainer.precision_plugin))
    else:
        monkeypatch.setattr(Precision, "convert_input", convert_input)
    trainer.fit(Model(), DataLoader(TensorDataset(torch.randn(4, 2), torch.randn(4, 1)), batch_size=2))
    assert seen == [torch.float32, torch.float32]
