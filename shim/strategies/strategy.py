"""``Strategy``: where the model lives and how steps, backward and optimizer steps run on it."""

import os
from collections.abc import Callable, Generator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.overrides import TorchFunctionMode

from shim.accelerators.accelerator import Accelerator
from shim.core.optimizer import LightningOptimizer, LRSchedulerConfig, init_optimizers_and_schedulers
from shim.plugins.precision.precision import _NO_CONTEXT, Precision

if TYPE_CHECKING:
    from shim.core.module import LightningModule
    from shim.trainer.trainer import Trainer

__all__ = ["Strategy"]


class _SkipWeightInit(TorchFunctionMode):
    """While active (and ``enabled``), every ``torch.nn.init`` function returns its tensor untouched."""

    def __init__(self, enabled: bool = True) -> None:
        super().__init__()
        self.enabled = enabled

    def __torch_function__(
        self, func: Callable[..., Any], types: Sequence[type], args: Sequence[Any] = (), kwargs: dict | None = None
    ) -> Any:
        kwargs = kwargs or {}
        if self.enabled and getattr(func, "__module__", None) == "torch.nn.init":
            return kwargs["tensor"] if "tensor" in kwargs else args[0]
        return func(*args, **kwargs)


class Strategy:
    """Owns the model, its optimizers and the device; subclasses add distribution."""

    handles_gradient_accumulation = False

    def __init__(self, accelerator: Accelerator | None = None, precision_plugin: Precision | None = None) -> None:
        self.accelerator = accelerator
        self.precision_plugin = precision_plugin or Precision()
        self._lightning_module: LightningModule | None = None
        self._model: nn.Module | None = None
        self.optimizers: list[Optimizer] = []
        self._lightning_optimizers: list[LightningOptimizer] = []
        self.lr_scheduler_configs: list[LRSchedulerConfig] = []

    # -- the model -------------------------------------------------------------------------------------
    @property
    def root_device(self) -> torch.device:
        raise NotImplementedError

    @property
    def lightning_module(self) -> "LightningModule | None":
        return self._lightning_module

    @property
    def model(self) -> nn.Module | None:
        return self._model if self._model is not None else self._lightning_module

    def connect(self, model: "LightningModule") -> None:
        self._lightning_module = model
        self._model = model

    def setup_environment(self) -> None:
        if self.accelerator is not None:
            self.accelerator.setup_device(self.root_device)

    @contextmanager
    def tensor_init_context(self, empty_init: bool | None = None) -> Generator[None, None, None]:
        """Create tensors on this strategy's device and in its precision's dtype (``Trainer.init_module`` uses it).

        Args:
            empty_init: Skip ``torch.nn.init`` calls, leaving new weights uninitialized (for weights loaded next).
        """
        with _SkipWeightInit(enabled=bool(empty_init)), self.root_device, self.precision_plugin.tensor_init_context():
            yield

    @contextmanager
    def model_sharded_context(self) -> Generator[None, None, None]:
        """Where a sharding strategy builds the model's layers; nothing happens here for unsharded strategies."""
        yield

    def model_to_device(self) -> None:
        assert self._lightning_module is not None
        self._lightning_module.to(self.root_device)

    def setup(self, trainer: "Trainer") -> None:
        """Move the model to its device, convert it for the precision, and (when fitting) build the optimizers."""
        assert self._lightning_module is not None
        self._model = self.precision_plugin.convert_module(self._lightning_module)
        self.model_to_device()
        if trainer.training_fn:
            self.setup_optimizers()

    def setup_optimizers(self) -> None:
        assert self._lightning_module is not None
        self.optimizers, self.lr_scheduler_configs = init_optimizers_and_schedulers(self._lightning_module)
        self._lightning_optimizers = [LightningOptimizer._to_lightning_optimizer(o, self) for o in self.optimizers]

    # -- data ------------------------------------------------------------------------------------------
    def batch_to_device(self, batch: Any, device: torch.device | None = None, dataloader_idx: int = 0) -> Any:
        """Move a batch to the device through the module's (and datamodule's) transfer hooks."""
        module = self._lightning_module
        assert module is not None
        return module._apply_batch_transfer_handler(batch, device or self.root_device, dataloader_idx)

    # -- steps -----------------------------------------------------------------------------------------
    def _step(self, name: str, context: Any, args: tuple[Any, ...]) -> Any:
        module = self._lightning_module
        assert module is not None
        previous = module._current_fx_name
        object.__setattr__(module, "_current_fx_name", name)  # a plain attribute: skip nn.Module's checks
        try:
            if context is _NO_CONTEXT:  # full precision: skip entering a context that does nothing
                return getattr(module, name)(*args)
            with context:
                return getattr(module, name)(*args)
        finally:
            object.__setattr__(module, "_current_fx_name", previous)

    def training_step(self, *args: Any) -> Any:
        return self._step("training_step", self.precision_plugin.train_step_context(), args)

    def validation_step(self, *args: Any) -> Any:
        return self._step("validation_step", self.precision_plugin.val_step_context(), args)

    def test_step(self, *args: Any) -> Any:
        return self._step("test_step", self.precision_plugin.test_step_context(), args)

    def predict_step(self, *args: Any) -> Any:
        return self._step("predict_step", self.precision_plugin.predict_step_context(), args)

    def backward(self, closure_loss: Tensor, optimizer: Optimizer | None, *args: Any, **kwargs: Any) -> Tensor:
        """Run the backward hooks and the backward pass through the precision plugin."""
        module = self._lightning_module
        assert module is not None
        closure_loss = self.precision_plugin.pre_backward(closure_loss, module)
        self.precision_plugin.backward(closure_loss, module, optimizer, *args, **kwargs)
        return self.precision_plugin.post_backward(closure_loss, module)

    def optimizer_step(self, optimizer: Optimizer, closure: Callable[[], Any], **kwargs: Any) -> Any:
        module = self._lightning_module
        assert module is not None
        return self.precision_plugin.optimizer_step(optimizer, module, closure, **kwargs)

    # -- collectives (trivial for one process) ---------------------------------------------------------
    @property
    def is_global_zero(self) -> bool:
        return self.global_rank == 0

    @property
    def global_rank(self) -> int:
        return 0

    @property
    def local_rank(self) -> int:
        return 0

    @property
    def node_rank(self) -> int:
        return 0

    @property
    def world_size(self) -> int:
        return 1

    def reduce(self, tensor: Any, group: Any | None = None, reduce_op: str | None = "mean") -> Any:
        return tensor

    def reduce_for_log(self, tensor: Tensor, reduce_fx: str) -> Tensor:
        """Reduce a logged value across processes with the log call's ``reduce_fx``."""
        return tensor

    def barrier(self, name: str | None = None) -> None:
        pass

    def broadcast(self, obj: Any, src: int = 0) -> Any:
        return obj

    def all_gather(self, tensor: Tensor, group: Any | None = None, sync_grads: bool = False) -> Tensor:
        return tensor

    def reduce_boolean_decision(self, decision: bool, all: bool = True) -> bool:  # noqa: A002 - Lightning's name
        """Combine a per-process decision; with one process it is the decision itself."""
        return decision

    @property
    def launcher(self) -> Any:
        """What starts the other processes of a distributed run (None: this process runs alone)."""
        return None

    # -- checkpoint files ------------------------------------------------------------------------------
    def save_checkpoint(
        self, checkpoint: dict[str, Any], filepath: "str | os.PathLike", storage_options: Any | None = None
    ) -> None:
        """Write ``checkpoint`` to ``filepath`` (on global rank 0 only), atomically.

        Raises:
            TypeError: For ``storage_options``, which plain file writes do not take.
        """
        if storage_options is not None:
            raise TypeError(
                f"save_checkpoint(storage_options={storage_options!r}): shim writes checkpoints with torch.save"
                " (through fsspec for a path with a protocol) and takes no storage options; leave it None."
            )
        if self.is_global_zero:
            from shim.trainer.checkpoint_files import save_checkpoint_file

            save_checkpoint_file(checkpoint, filepath)

    def load_checkpoint(self, checkpoint_path: "str | os.PathLike", weights_only: bool | None = None) -> dict[str, Any]:
        """Read a checkpoint dict (see ``shim.trainer.checkpoint_files.load_checkpoint_file``)."""
        from shim.trainer.checkpoint_files import load_checkpoint_file

        return load_checkpoint_file(checkpoint_path, weights_only=weights_only)

    def remove_checkpoint(self, filepath: "str | os.PathLike") -> None:
        """Delete a checkpoint file (on global rank 0 only)."""
        if self.is_global_zero:
            from shim.trainer.checkpoint_files import remove_checkpoint_file

            remove_checkpoint_file(filepath)

    # -- lifecycle -------------------------------------------------------------------------------------
    # Lightning's strategy hooks, run after the callbacks' and the module's. shim's strategies do nothing in them,
    # so the plain hook dispatcher skips them; a profiled run calls and records them, as Lightning does
    def on_train_start(self) -> None:
        pass

    def on_train_end(self) -> None:
        pass

    def on_validation_start(self) -> None:
        pass

    def on_validation_end(self) -> None:
        pass

    def on_test_start(self) -> None:
        pass

    def on_test_end(self) -> None:
        pass

    def on_predict_start(self) -> None:
        pass

    def on_predict_end(self) -> None:
        pass

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        pass

    def on_exception(self, exception: BaseException) -> None:
        pass

    def teardown(self) -> None:
        self.precision_plugin.teardown()
        if self._lightning_module is not None and self.root_device.type != "cpu":
            self._lightning_module.cpu()
        if self.accelerator is not None:
            self.accelerator.teardown()
