"""``StochasticWeightAveraging``: average the weights of the last epochs and finish training with that average.

The averaging is ``torch.optim.swa_utils``: an ``AveragedModel`` holds the running average and ``SWALR`` takes over
the learning rate once averaging starts. Models with batch norm get one extra epoch at the end, in which the
training batches run forward only, so the running statistics are recomputed for the averaged weights.
"""

from collections.abc import Callable
from copy import deepcopy
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import SWALR, AveragedModel
from typing_extensions import override

from shim.callbacks.callback import Callback
from shim.core.optimizer import LRSchedulerConfig
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.rank_zero import rank_zero_info, rank_zero_warn

if TYPE_CHECKING:
    from shim.core.module import LightningModule
    from shim.trainer.trainer import Trainer

__all__ = ["StochasticWeightAveraging"]

_AvgFn = Callable[[Tensor, Tensor, Tensor | int], Tensor]
_CPU = torch.device("cpu")


def _copy_without_trainer(module: "LightningModule") -> "LightningModule":
    # the module points at its Trainer (and so at loaders, loops, callbacks): leave that reference out of the copy
    trainer = module._trainer
    return deepcopy(module, {} if trainer is None else {id(trainer): None})


class StochasticWeightAveraging(Callback):
    """Average the model's weights over the epochs from ``swa_epoch_start`` to the last, and end with the average.

    From the start epoch on, the weights are added to a running average at the start of every epoch, and the
    learning rate follows ``SWALR``: it anneals to ``swa_lrs`` over ``annealing_epochs`` epochs and stays there
    (this replaces the model's own scheduler). When training ends, the averaged weights are copied into the model.
    With batch-norm layers, ``max_epochs`` grows by one: the averaged weights are copied in at the start of that
    extra epoch, and its batches only run forward (no backward) to recompute the batch-norm statistics.

    Only one optimizer and at most one scheduler are supported.

    Args:
        swa_lrs: The learning rate after annealing: one positive float for every parameter group, or a list with
            one positive float per group.
        swa_epoch_start: The epoch averaging starts: an int counts from 1 (``2`` is the second epoch); a float in
            ``[0, 1]`` is a fraction of ``max_epochs`` (``int(max_epochs * swa_epoch_start)``).
        annealing_epochs: Epochs over which the learning rate moves to ``swa_lrs``.
        annealing_strategy: ``"cos"`` or ``"linear"`` annealing.
        avg_fn: ``avg_fn(averaged, current, num_averaged)`` returns the new average of one parameter; the default
            is the equal-weight running mean.
        device: Where the averaged model lives; None keeps it on the model's device.

    Raises:
        MisconfigurationException: If an argument is not valid; when fitting starts, with several optimizers or
            schedulers, or a float ``swa_epoch_start`` and ``max_epochs=-1``.
    """

    def __init__(
        self,
        swa_lrs: float | list[float],
        swa_epoch_start: int | float = 0.8,
        annealing_epochs: int = 10,
        annealing_strategy: Literal["cos", "linear"] = "cos",
        avg_fn: _AvgFn | None = None,
        device: torch.device | str | None = _CPU,
    ) -> None:
        if (isinstance(swa_epoch_start, int) and swa_epoch_start < 1) or (
            isinstance(swa_epoch_start, float) and not 0 <= swa_epoch_start <= 1
        ):
            raise MisconfigurationException(
                f"StochasticWeightAveraging(swa_epoch_start={swa_epoch_start!r}) is not valid: give an epoch as an"
                " int >= 1 or a fraction of max_epochs as a float between 0 and 1."
            )
        lrs = swa_lrs if isinstance(swa_lrs, list) else [swa_lrs]
        if not isinstance(swa_lrs, (float, list)) or not all(isinstance(lr, float) and lr > 0 for lr in lrs):
            raise MisconfigurationException(
                f"StochasticWeightAveraging(swa_lrs={swa_lrs!r}) is not valid: give a positive float, or a list of"
                " positive floats (one per parameter group)."
            )
        if avg_fn is not None and not callable(avg_fn):
            raise MisconfigurationException(f"StochasticWeightAveraging(avg_fn={avg_fn!r}) must be callable.")
        if device is not None and not isinstance(device, (torch.device, str)):
            raise MisconfigurationException(
                f"StochasticWeightAveraging(device={device!r}) must be a torch.device, a str or None."
            )
        self._swa_epoch_start = swa_epoch_start
        self._swa_lrs = swa_lrs
        self._annealing_epochs = annealing_epochs
        self._annealing_strategy = annealing_strategy
        self._avg_fn: _AvgFn = avg_fn or self.avg_fn
        self._device = device
        self._average_model: AveragedModel | None = None
        self._swa_scheduler: SWALR | None = None
        self._initialized = False
        self._model_contains_batch_norm: bool | None = None
        self._max_epochs = -1
        self._accumulate_grad_batches = 1
        # restored from a checkpoint, applied when averaging (re)starts
        self._init_n_averaged = 0
        self._latest_update_epoch = -1
        self._scheduler_state: dict[str, Any] | None = None
        self.momenta: dict[nn.modules.batchnorm._BatchNorm, float | None] = {}

    @property
    def n_averaged(self) -> Tensor | None:
        """How many weight snapshots the average holds; None before averaging started."""
        return self._average_model.n_averaged if self._initialized and self._average_model is not None else None

    @property
    def swa_start(self) -> int:
        """The first averaged epoch, 0-based."""
        assert isinstance(self._swa_epoch_start, int), "a fractional start is resolved when fitting starts"
        return max(self._swa_epoch_start - 1, 0)

    @property
    def swa_end(self) -> int | float:
        """The last averaged epoch, 0-based (infinite with ``max_epochs=-1``)."""
        return float("inf") if self._max_epochs == -1 else self._max_epochs - 1

    @staticmethod
    def avg_fn(averaged_model_parameter: Tensor, model_parameter: Tensor, num_averaged: Tensor | int) -> Tensor:
        """The equal-weight running mean after adding ``model_parameter`` to ``num_averaged`` earlier values."""
        return averaged_model_parameter + (model_parameter - averaged_model_parameter) / (num_averaged + 1)

    @staticmethod
    def pl_module_contains_batch_norm(pl_module: "LightningModule") -> bool:
        return any(isinstance(module, nn.modules.batchnorm._BatchNorm) for module in pl_module.modules())

    @staticmethod
    def transfer_weights(src_pl_module: nn.Module, dst_pl_module: nn.Module) -> None:
        """Copy the parameters (not the buffers) of ``src_pl_module`` into ``dst_pl_module``."""
        for src, dst in zip(src_pl_module.parameters(), dst_pl_module.parameters(), strict=True):
            dst.detach().copy_(src.to(dst.device))

    def reset_batch_norm_and_save_state(self, pl_module: "LightningModule") -> None:
        """Zero the batch-norm statistics and make them a plain mean over the next batches (momentum None)."""
        self.momenta = {}
        for module in pl_module.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.reset_running_stats()
                self.momenta[module] = module.momentum
                module.momentum = None

    def reset_momenta(self) -> None:
        """Give the batch-norm layers back the momentum ``reset_batch_norm_and_save_state`` took away."""
        for module, momentum in self.momenta.items():
            module.momentum = momentum

    @override
    def setup(self, trainer: "Trainer", pl_module: "LightningModule", stage: str) -> None:
        # copied before the strategy moves the model to its device; the weights are overwritten when averaging starts
        self._average_model = AveragedModel(_copy_without_trainer(pl_module), avg_fn=self._avg_fn)

    @override
    def on_fit_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        if len(trainer.optimizers) != 1:
            raise MisconfigurationException(
                f"StochasticWeightAveraging supports exactly one optimizer; `configure_optimizers` gave"
                f" {len(trainer.optimizers)}."
            )
        if len(trainer.lr_scheduler_configs) > 1:
            raise MisconfigurationException(
                f"StochasticWeightAveraging supports at most one learning-rate scheduler;"
                f" `configure_optimizers` gave {len(trainer.lr_scheduler_configs)}."
            )
        max_epochs = trainer.max_epochs
        assert max_epochs is not None
        if isinstance(self._swa_epoch_start, float):
            if max_epochs == -1:
                raise MisconfigurationException(
                    f"StochasticWeightAveraging(swa_epoch_start={self._swa_epoch_start}) is a fraction of max_epochs,"
                    " but max_epochs=-1 has no end: give swa_epoch_start as an int epoch."
                )
            self._swa_epoch_start = int(max_epochs * self._swa_epoch_start)
        self._model_contains_batch_norm = self.pl_module_contains_batch_norm(pl_module)
        self._max_epochs = max_epochs
        if self._model_contains_batch_norm and max_epochs != -1:
            trainer.fit_loop.max_epochs = max_epochs + 1  # the extra epoch recomputes the batch-norm statistics
        if self._scheduler_state is not None:
            # a restored SWALR state must not be loaded into the model's own scheduler; SWALR comes back later
            trainer.lr_scheduler_configs.clear()

    @override
    def on_train_epoch_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        epoch = trainer.current_epoch
        is_averaging_epoch = self.swa_start <= epoch <= self.swa_end
        if is_averaging_epoch and not self._initialized:
            self._start_averaging(trainer, pl_module)
        if is_averaging_epoch and epoch > self._latest_update_epoch:
            assert self._average_model is not None
            self._average_model.update_parameters(pl_module)
            self._latest_update_epoch = epoch
        if self._max_epochs != -1 and epoch == self.swa_end + 1:
            self._start_batch_norm_epoch(trainer, pl_module)

    @override
    def on_train_epoch_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        trainer.fit_loop.epoch_loop.automatic_optimization._skip_backward = False

    @override
    def on_train_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        # the epoch counter has already moved past the last epoch here
        last_epoch = trainer.current_epoch - 1
        if self._model_contains_batch_norm and self._max_epochs != -1 and last_epoch == self.swa_end + 1:
            trainer.accumulate_grad_batches = self._accumulate_grad_batches
            trainer.fit_loop.max_batches -= 1
            assert trainer.fit_loop.max_epochs is not None
            trainer.fit_loop.max_epochs -= 1
            self.reset_momenta()
        elif (last_epoch == self.swa_end or self._max_epochs == -1) and self._average_model is not None:
            self.transfer_weights(self._average_model.module, pl_module)

    @override
    def state_dict(self) -> dict[str, Any]:
        n_averaged = self.n_averaged
        return {
            "n_averaged": 0 if n_averaged is None else n_averaged.item(),
            "latest_update_epoch": self._latest_update_epoch,
            "scheduler_state": None if self._swa_scheduler is None else self._swa_scheduler.state_dict(),
            "average_model_state": None if self._average_model is None else self._average_model.module.state_dict(),
        }

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._init_n_averaged = state_dict["n_averaged"]
        self._latest_update_epoch = state_dict["latest_update_epoch"]
        self._scheduler_state = state_dict["scheduler_state"]
        if self._average_model is not None:
            self._average_model.module.load_state_dict(state_dict["average_model_state"])

    def _start_averaging(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        """Move the average to its device and hand the learning rate to ``SWALR``."""
        self._initialized = True
        assert self._average_model is not None
        self._average_model.to(self._device or pl_module.device)
        self._average_model.n_averaged.fill_(self._init_n_averaged)
        optimizer = trainer.optimizers[0]
        if isinstance(self._swa_lrs, float):
            self._swa_lrs = [self._swa_lrs] * len(optimizer.param_groups)
        # SWALR anneals from each group's `initial_lr`, which it needs when `last_epoch` is given
        for lr, group in zip(self._swa_lrs, optimizer.param_groups, strict=False):
            group["initial_lr"] = lr
        max_epochs = trainer.max_epochs
        assert max_epochs is not None
        self._swa_scheduler = SWALR(
            optimizer,
            swa_lr=self._swa_lrs,  # type: ignore[arg-type]  # SWALR takes one lr per group too
            anneal_epochs=self._annealing_epochs,
            anneal_strategy=self._annealing_strategy,
            last_epoch=max_epochs if self._annealing_strategy == "cos" else -1,
        )
        if self._scheduler_state is not None:
            self._swa_scheduler.load_state_dict(self._scheduler_state)
        elif trainer.current_epoch != self.swa_start:
            rank_zero_warn(
                f"StochasticWeightAveraging starts in epoch {trainer.current_epoch}, after swa_start={self.swa_start},"
                " without a saved scheduler state; the learning rate schedule starts afresh."
            )
        swa_config = LRSchedulerConfig(self._swa_scheduler)
        configs = trainer.lr_scheduler_configs
        if not configs:
            configs.append(swa_config)
            return
        current = configs[0]
        if current.interval != "epoch" or current.frequency != 1:
            rank_zero_warn(
                f"StochasticWeightAveraging steps its scheduler once per epoch; the model's scheduler stepped"
                f" every {current.frequency} {current.interval}(s): {current}"
            )
        rank_zero_info(
            f"Swapping scheduler `{type(current.scheduler).__name__}` for `{type(self._swa_scheduler).__name__}`"
        )
        configs[0] = swa_config

    def _start_batch_norm_epoch(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        """Put the averaged weights in the model and set up an epoch that only recomputes batch-norm statistics."""
        assert self._average_model is not None
        self.transfer_weights(self._average_model.module, pl_module)
        self.reset_batch_norm_and_save_state(pl_module)
        fit_loop = trainer.fit_loop
        if not isinstance(fit_loop.max_batches, int):
            raise MisconfigurationException(
                "StochasticWeightAveraging recomputes batch-norm statistics over one epoch of the train dataloader,"
                " which needs a dataloader with a length."
            )
        # one batch more than the epoch has, and an accumulation window as long: the batches run forward only.
        # As in Lightning, the epoch's last batch still steps the optimizer, with the gradients the last real step
        # left behind (nothing zeroes them while backward is skipped).
        fit_loop.max_batches += 1
        fit_loop.epoch_loop.automatic_optimization._skip_backward = True
        self._accumulate_grad_batches = trainer.accumulate_grad_batches
        trainer.accumulate_grad_batches = fit_loop.max_batches
