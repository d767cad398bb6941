"""``LightningModule``: an ``nn.Module`` that carries its training step, its optimizers and its hooks.

``self.log`` lives in ``mixins/logging_mixin.py``, the optimizer methods and hooks in ``mixins/optimization_mixin.py``,
the device and dtype bookkeeping in ``mixins/device_dtype_mixin.py``, and ``to_torchscript`` / ``to_onnx`` /
``to_tensorrt`` in ``export.py``. A module that Lightning Fabric sets up (``fabric.setup(module)``) reaches Fabric
instead of a Trainer: ``self.trainer`` forwards to it, and logging, backward, clipping and ``self.optimizers()`` go
through it.
"""

import numbers
import os
import weakref
from collections.abc import Generator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from typing_extensions import Self

from shim.core.hooks import CheckpointHooks, DataHooks, ModelHooks
from shim.core.mixins.device_dtype_mixin import _DeviceDtypeMixin
from shim.core.mixins.hparams_mixin import HyperparametersMixin
from shim.core.mixins.logging_mixin import LoggingMixin
from shim.core.mixins.optimization_mixin import OptimizationMixin
from shim.core.optimizer import LightningOptimizer
from shim.utilities.model_helpers import _restricted_classmethod
from shim.utilities.rank_zero import rank_zero_warn

if TYPE_CHECKING:
    from shim.trainer.trainer import Trainer

__all__ = ["MODULE_OPTIMIZERS", "LightningModule"]

# what `LightningModule.optimizers()` returns: one optimizer, or a list of them
MODULE_OPTIMIZERS = Optimizer | LightningOptimizer | list[Optimizer] | list[LightningOptimizer]

# While True, a detached module's `trainer` is None instead of an error: tracers (TensorBoard's graph, TorchScript)
# read every attribute of the module.
_jit_is_scripting_flag = False


@contextmanager
def _jit_is_scripting() -> Generator[None, None, None]:
    """Let tracing code read ``module.trainer`` on a module that is not attached to a Trainer."""
    global _jit_is_scripting_flag
    previous, _jit_is_scripting_flag = _jit_is_scripting_flag, True
    try:
        yield
    finally:
        _jit_is_scripting_flag = previous


class _TrainerFabricShim:
    """What ``self.trainer`` is on a module set up by Fabric: attribute reads go to the Fabric object."""

    def __init__(self, fabric: Any) -> None:
        self._fabric = fabric

    def __getattr__(self, name: str) -> Any:
        try:
            return getattr(self._fabric, name)
        except AttributeError:
            raise AttributeError(
                f"`self.trainer.{name}` does not exist when the LightningModule runs under Fabric: `self.trainer`"
                f" then stands for the Fabric object, and {type(self._fabric).__name__} has no `{name}`."
            ) from None


class LightningModule(
    _DeviceDtypeMixin,
    HyperparametersMixin,
    LoggingMixin,
    OptimizationMixin,
    ModelHooks,
    DataHooks,
    CheckpointHooks,
    nn.Module,
):
    """Organises a PyTorch model for the Trainer: steps, optimizers and hooks in one ``nn.Module``."""

    # properties TorchScript must not compile (they read the Trainer or Fabric, which it cannot type)
    __jit_unused_properties__: list[str] = [
        "example_input_array",
        "on_gpu",
        "current_epoch",
        "global_step",
        "global_rank",
        "local_rank",
        "logger",
        "loggers",
        "automatic_optimization",
        "trainer",
        "fabric",
        "strict_loading",
        "device_mesh",
        *_DeviceDtypeMixin.__jit_unused_properties__,
        *HyperparametersMixin.__jit_unused_properties__,
    ]

    CHECKPOINT_HYPER_PARAMS_KEY = "hyper_parameters"
    CHECKPOINT_HYPER_PARAMS_NAME = "hparams_name"
    CHECKPOINT_HYPER_PARAMS_TYPE = "hparams_type"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._trainer: Trainer | None = None
        self._current_fx_name: str | None = None
        self._automatic_optimization = True
        self._example_input_array: Any = None
        self._metric_attributes: dict[int, str] | None = None
        self._strict_loading: bool | None = None
        # the requires_grad flags toggle_optimizer changed, to be put back by untoggle_optimizer
        self._param_requires_grad_state: dict[Tensor, bool] = {}
        # set by Lightning Fabric's `setup()` when the module runs under Fabric instead of a Trainer
        self._fabric: Any = None
        self._fabric_optimizers: list[Any] = []
        # set by strategies that build a device mesh, for `configure_model`
        self._device_mesh: Any = None

    @_restricted_classmethod
    def load_from_checkpoint(
        cls,
        checkpoint_path: Any,
        map_location: Any = None,
        hparams_file: Any = None,
        strict: bool | None = None,
        weights_only: bool | None = None,
        **kwargs: Any,
    ) -> Any:
        """Build the module from a checkpoint's saved hyper-parameters (``kwargs`` override them) and load its weights.

        The module comes back on the device its weights were saved from (CPU when that device is missing) and in
        train mode, as Lightning returns it; call ``.eval()`` for inference.
        """
        from shim.core.saving import load_from_checkpoint

        return load_from_checkpoint(cls, checkpoint_path, map_location, hparams_file, strict, weights_only, **kwargs)

    # -- properties ------------------------------------------------------------------------------------
    @property
    def trainer(self) -> "Trainer":
        """The Trainer this module is attached to (under Fabric, a stand-in that reads the Fabric object).

        Raises:
            RuntimeError: If the module is attached to neither.
        """
        if self._fabric is not None:
            return _TrainerFabricShim(self._fabric)  # type: ignore[return-value]
        if self._trainer is None and not _jit_is_scripting_flag:
            raise RuntimeError(
                f"{type(self).__qualname__} has no Trainer: pass it to `trainer.fit` (or validate/test/predict)."
            )
        return self._trainer  # type: ignore[return-value]

    @trainer.setter
    def trainer(self, trainer: "Trainer | None") -> None:
        for child in self.children():
            if isinstance(child, LightningModule):
                child.trainer = trainer
        self._trainer = trainer

    @property
    def fabric(self) -> Any:
        """The Lightning Fabric object running this module, if any (held through a weak reference)."""
        return self._fabric

    @fabric.setter
    def fabric(self, fabric: Any) -> None:
        for child in self.children():
            if isinstance(child, LightningModule):
                child.fabric = fabric
        if fabric is not None and not isinstance(fabric, weakref.ProxyTypes):
            fabric = weakref.proxy(fabric)
        self._fabric = fabric

    @property
    def device_mesh(self) -> Any:
        """The device mesh a model-parallel strategy built, for ``configure_model``; None otherwise."""
        return self._device_mesh

    @property
    def automatic_optimization(self) -> bool:
        """Whether the Trainer runs the optimization (True) or ``training_step`` does (False)."""
        return self._automatic_optimization

    @automatic_optimization.setter
    def automatic_optimization(self, value: bool) -> None:
        self._automatic_optimization = value

    @property
    def current_epoch(self) -> int:
        return self._trainer.current_epoch if self._trainer is not None else 0

    @property
    def global_step(self) -> int:
        return self._trainer.global_step if self._trainer is not None else 0

    @property
    def global_rank(self) -> int:
        return self._trainer.global_rank if self._trainer is not None else 0

    @property
    def local_rank(self) -> int:
        return self._trainer.local_rank if self._trainer is not None else 0

    @property
    def on_gpu(self) -> bool:
        return self.device.type == "cuda"

    @property
    def example_input_array(self) -> Any:
        return self._example_input_array

    @example_input_array.setter
    def example_input_array(self, example: Any) -> None:
        self._example_input_array = example

    @property
    def logger(self) -> Any:
        """The Trainer's (or Fabric's) first logger; None when not attached."""
        if self._fabric is not None:
            return self._fabric.logger
        return self._trainer.logger if self._trainer is not None else None

    @property
    def loggers(self) -> list[Any]:
        """The Trainer's (or Fabric's) loggers; empty when not attached."""
        if self._fabric is not None:
            return self._fabric.loggers
        return self._trainer.loggers if self._trainer is not None else []

    @property
    def strict_loading(self) -> bool:
        return True if self._strict_loading is None else self._strict_loading

    @strict_loading.setter
    def strict_loading(self, value: bool) -> None:
        self._strict_loading = value

    def __getstate__(self) -> dict[str, Any]:
        # copying or pickling a module must not drag its Trainer (loaders, loops, callbacks) along
        state = dict(self.__dict__)
        state["_trainer"] = None
        return state

    # -- what users implement --------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return super().forward(*args, **kwargs)

    def training_step(self, *args: Any, **kwargs: Any) -> Any:
        """Compute and return the training loss (a tensor, or a dict with a ``"loss"`` key, or ``None`` to skip)."""
        rank_zero_warn("`training_step` is not overridden: define it in your LightningModule to train")

    def validation_step(self, *args: Any, **kwargs: Any) -> Any:
        """Run one validation batch; log metrics with ``self.log``."""

    def test_step(self, *args: Any, **kwargs: Any) -> Any:
        """Run one test batch; log metrics with ``self.log``."""

    def predict_step(self, *args: Any, **kwargs: Any) -> Any:
        """Return the prediction for one batch; by default ``self(batch)``."""
        batch = kwargs.get("batch", args[0])
        return self(batch)

    def configure_optimizers(self) -> Any:
        """Return the optimizer(s) and optionally LR scheduler(s) in one of the documented forms."""
        rank_zero_warn("`configure_optimizers` is not overridden: define it in your LightningModule to train")

    def configure_callbacks(self) -> Any:
        """Return callbacks to add to the Trainer's; one of the same type replaces the Trainer's."""
        return []

    def freeze(self) -> Self:
        """Turn off gradients for every parameter and switch to eval mode; returns the module."""
        for param in self.parameters():
            param.requires_grad = False
        return self.eval()

    def unfreeze(self) -> Self:
        """Turn gradients back on for every parameter and switch to train mode; returns the module."""
        for param in self.parameters():
            param.requires_grad = True
        return self.train()

    def all_gather(self, data: Any, group: Any | None = None, sync_grads: bool = False) -> Any:
        """Gather a tensor (or a collection of tensors and numbers) from every process.

        Args:
            data: A tensor, a number, or a (nested) collection of them.
            group: The process group to gather from; all processes by default.
            sync_grads: Let gradients flow back through the gathered tensors.

        Returns:
            The same structure, each tensor with a new leading dimension of size ``world_size`` (unchanged when
            running in one process).
        """
        from shim.utilities.apply_func import apply_to_collection

        trainer = self.trainer
        data = apply_to_collection(data, numbers.Number, lambda x: torch.tensor(x, device=self.device))
        data = apply_to_collection(data, Tensor, lambda t: t.to(self.device))
        return apply_to_collection(data, Tensor, trainer.strategy.all_gather, group=group, sync_grads=sync_grads)

    def print(self, *args: Any, **kwargs: Any) -> None:
        """``print`` on global rank zero only, through the progress bar when there is one so it stays intact.

        Raises:
            RuntimeError: If the module is not attached to a Trainer.
        """
        trainer = self.trainer
        if not trainer.is_global_zero:
            return
        bar = trainer.progress_bar_callback
        if bar is not None and bar.is_enabled:
            bar.print(*args, **kwargs)
        else:
            print(*args, **kwargs)

    # -- export ----------------------------------------------------------------------------------------
    def to_torchscript(
        self,
        file_path: str | os.PathLike[str] | None = None,
        method: str | None = "script",
        example_inputs: Any | None = None,
        **kwargs: Any,
    ) -> Any:
        """The module as TorchScript, scripted (``method="script"``) or traced on ``example_inputs`` (``"trace"``).

        Deprecated since Lightning 2.7, as TorchScript is in PyTorch. Tracing falls back to
        ``example_input_array``; ``kwargs`` go to ``torch.jit.script`` / ``torch.jit.trace``; the result is also
        saved to ``file_path`` when given.

        Raises:
            ValueError: For another ``method``, or for tracing without an example input.
        """
        from shim.core.export import to_torchscript

        return to_torchscript(self, file_path, method, example_inputs, **kwargs)

    def to_onnx(self, file_path: Any = None, input_sample: Any | None = None, **kwargs: Any) -> Any:
        """Export the module to ONNX with ``torch.onnx.export`` on ``input_sample`` (or ``example_input_array``).

        Raises:
            ModuleNotFoundError: If ``onnx`` is not installed.
            ValueError: If there is no example input.
        """
        from shim.core.export import to_onnx

        return to_onnx(self, file_path, input_sample, **kwargs)

    def to_tensorrt(
        self,
        file_path: Any = None,
        input_sample: Any | None = None,
        ir: str = "default",
        output_format: str = "exported_program",
        retrace: bool = False,
        default_device: str | torch.device = "cuda",
        **compile_kwargs: Any,
    ) -> Any:
        """Compile the module with TensorRT (``torch_tensorrt``) on a CUDA device, and save it to ``file_path``.

        Raises:
            ModuleNotFoundError: If ``torch_tensorrt`` is not installed.
            MisconfigurationException: If there is no CUDA device to compile on.
            ValueError: If there is no example input.
        """
        from shim.core.export import to_tensorrt

        return to_tensorrt(self, file_path, input_sample, ir, output_format, retrace, default_device, **compile_kwargs)

    # -- batch transfer ------------------------------------------------------------------------------------
    def _call_batch_hook(self, name: str, *args: Any) -> Any:
        trainer = self._trainer
        if trainer is None:
            return getattr(self, name)(*args)
        from shim.trainer.data import data_hook_owner

        owner = data_hook_owner(trainer, name)
        if owner is self:
            return trainer._hooks.module(name, *args)
        return trainer._hooks.datamodule(name, *args)

    def _on_before_batch_transfer(self, batch: Any, dataloader_idx: int = 0) -> Any:
        return self._call_batch_hook("on_before_batch_transfer", batch, dataloader_idx)

    def _apply_batch_transfer_handler(
        self, batch: Any, device: torch.device | None = None, dataloader_idx: int = 0
    ) -> Any:
        device = device or self.device
        batch = self._call_batch_hook("transfer_batch_to_device", batch, device, dataloader_idx)
        return self._call_batch_hook("on_after_batch_transfer", batch, dataloader_idx)
