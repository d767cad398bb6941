"""``WeightAveraging`` and ``EMAWeightAveraging``: a running average of the weights, used for validation and kept.

The average lives in a ``torch.optim.swa_utils.AveragedModel`` that is built when fitting starts. After each
optimizer step (and after each epoch) ``should_update`` decides whether the current weights join the average.
Validation runs on the averaged weights: they are exchanged with the model's for the length of each validation
epoch. When training ends the averaged weights stay in the model. Checkpoints keep Lightning's layout: the averaged
weights under ``state_dict``, the model's own under ``current_model_state`` and the rest of the ``AveragedModel``
state (its ``n_averaged``) under ``averaging_state``.
"""

from collections.abc import Iterator
from copy import deepcopy
from itertools import chain
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from typing_extensions import override

from shim.callbacks.callback import Callback
from shim.utilities.model_helpers import is_overridden
from shim.utilities.rank_zero import rank_zero_info, rank_zero_warn

if TYPE_CHECKING:
    from shim.core.module import LightningModule
    from shim.trainer.trainer import Trainer

__all__ = ["EMAWeightAveraging", "WeightAveraging"]

_PREFIX = "module."  # AveragedModel keeps the averaged copy as its submodule `module`


class WeightAveraging(Callback):
    """Keep an average of the model's weights while fitting; validate with it and finish training with it.

    The average is a ``torch.optim.swa_utils.AveragedModel`` of the LightningModule, built in ``setup`` of the fit
    stage. ``kwargs`` go to it unchanged: ``avg_fn`` or ``multi_avg_fn`` choose the averaging (by default the equal
    weight mean of stochastic weight averaging). Buffers are averaged too unless ``use_buffers=False``; then the
    averaged copy keeps the buffers it was built with, and recomputing batch-norm statistics is left to the user
    (``torch.optim.swa_utils.update_bn``).

    Override ``should_update`` to choose when the average is updated; by default after every optimizer step.

    A module that overrides ``configure_model`` gets that hook called once more before the copy is made, so the
    average has every layer; the layers are not sharded, hence a warning.

    Args:
        device: Where the averaged copy lives; None keeps it on the model's device (``"cpu"`` saves accelerator
            memory).
        use_buffers: Whether buffers (batch-norm statistics) are averaged along with the parameters.
        kwargs: Passed to ``AveragedModel``, e.g. ``avg_fn`` or ``multi_avg_fn``.
    """

    def __init__(self, device: torch.device | str | int | None = None, use_buffers: bool = True, **kwargs: Any) -> None:
        self._device: torch.device | int | None = torch.device(device) if isinstance(device, str) else device
        self._use_buffers = use_buffers
        self._averaged_model_kwargs = kwargs
        self._average_model: AveragedModel | None = None
        # the global step and the epoch of the latest update: the first step check comes after the first optimizer
        # step (not the first batch, when gradients accumulate), the first epoch check after epoch 0
        self._updated_at_step = 0
        self._updated_at_epoch = -1

    @property
    def average_model(self) -> AveragedModel | None:
        """The ``AveragedModel`` that holds the average; None until fitting starts."""
        return self._average_model

    def should_update(self, step_idx: int | None = None, epoch_idx: int | None = None) -> bool:
        """Whether the current weights join the average now.

        Called with ``step_idx``, the 0-based index of the optimizer step just taken, after every optimizer step,
        and with ``epoch_idx``, the 0-based index of the epoch just finished, at the end of every training epoch.
        The default updates after every step and never at an epoch's end.
        """
        return step_idx is not None

    # -- fitting ------------------------------------------------------------------------------------------------
    @override
    def setup(self, trainer: "Trainer", pl_module: "LightningModule", stage: str) -> None:
        if stage != "fit":
            return
        if is_overridden("configure_model", pl_module):
            rank_zero_warn(
                "WeightAveraging copies the whole model, and this model builds layers in `configure_model`: the hook"
                " runs now to build them, unsharded, so the averaged copy may not fit in memory."
            )
            pl_module.configure_model()
        device = pl_module.device if self._device is None else self._device
        self._average_model = AveragedModel(
            pl_module, device=device, use_buffers=self._use_buffers, **self._averaged_model_kwargs
        )

    @override
    def on_train_batch_end(
        self, trainer: "Trainer", pl_module: "LightningModule", outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        # a batch that only accumulated gradients leaves the step count where the last update saw it
        if step > self._updated_at_step and self.should_update(step_idx=step - 1):
            self._averaged().update_parameters(pl_module)
            self._updated_at_step = step

    @override
    def on_train_epoch_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        epoch = trainer.current_epoch
        if epoch > self._updated_at_epoch and self.should_update(epoch_idx=epoch):
            self._averaged().update_parameters(pl_module)
            self._updated_at_epoch = epoch

    @override
    def on_train_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        with torch.no_grad():
            for averaged, current in self._pairs(pl_module):
                current.copy_(averaged)

    @override
    def on_validation_epoch_start(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        if self._average_model is not None:
            self._exchange_weights(pl_module)

    @override
    def on_validation_epoch_end(self, trainer: "Trainer", pl_module: "LightningModule") -> None:
        if self._average_model is not None:
            self._exchange_weights(pl_module)

    # -- checkpoints --------------------------------------------------------------------------------------------
    @override
    def state_dict(self) -> dict[str, Any]:
        return {"latest_update_step": self._updated_at_step}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._updated_at_step = state_dict["latest_update_step"]

    @override
    def on_save_checkpoint(self, trainer: "Trainer", pl_module: "LightningModule", checkpoint: dict[str, Any]) -> None:
        if self._average_model is None:
            rank_zero_info(
                "WeightAveraging has no average outside fitting, so this checkpoint holds none of its state; after a"
                " finished fit the model's weights, saved as usual, already are the averaged ones."
            )
            return
        state = self._average_model.state_dict()
        checkpoint["current_model_state"] = checkpoint["state_dict"]
        checkpoint["state_dict"] = {key[len(_PREFIX) :]: v for key, v in state.items() if key.startswith(_PREFIX)}
        checkpoint["averaging_state"] = {key: v for key, v in state.items() if not key.startswith(_PREFIX)}

    @override
    def on_load_checkpoint(self, trainer: "Trainer", pl_module: "LightningModule", checkpoint: dict[str, Any]) -> None:
        if self._average_model is None:
            rank_zero_warn(
                "WeightAveraging only restores its average when fitting; this checkpoint is read outside `fit`, so"
                " its averaging state is not used (harmless for testing or predicting with it; drop the callback to"
                " silence this)."
            )
        elif "current_model_state" in checkpoint and "averaging_state" in checkpoint:
            rank_zero_info("The checkpoint holds `current_model_state`: the model resumes from those weights.")
            state = {_PREFIX + key: value for key, value in checkpoint["state_dict"].items()}
            state.update(checkpoint["averaging_state"])
            self._average_model.load_state_dict(state)
            # the Trainer has loaded `state_dict`, the average, into the model already: put the model's own back
            pl_module.load_state_dict(checkpoint["current_model_state"])
        else:
            rank_zero_warn(
                "This checkpoint was not written with WeightAveraging: its `state_dict` starts both the model and"
                " the average."
            )
            self._average_model.module.load_state_dict(deepcopy(checkpoint["state_dict"]), strict=False)

    # -- helpers ------------------------------------------------------------------------------------------------
    def _averaged(self) -> AveragedModel:
        assert self._average_model is not None, "the average is built in setup('fit')"
        return self._average_model

    def _pairs(self, pl_module: nn.Module) -> Iterator[tuple[Tensor, Tensor]]:
        """(averaged, current) for every parameter and buffer, in the order both modules list them."""
        averaged = self._averaged().module
        return zip(
            chain(averaged.parameters(), averaged.buffers()),
            chain(pl_module.parameters(), pl_module.buffers()),
            strict=False,
        )

    @torch.no_grad()
    def _exchange_weights(self, pl_module: nn.Module) -> None:
        for averaged, current in self._pairs(pl_module):
            held = averaged.clone()
            averaged.copy_(current)
            current.copy_(held)


class EMAWeightAveraging(WeightAveraging):
    """Average the weights as an exponential moving average: ``average = decay * average + (1 - decay) * weights``.

    By default the average is updated after every optimizer step. ``update_every_n_steps``,
    ``update_starting_at_step`` and ``update_starting_at_epoch`` thin that out or delay it (see ``should_update``).

    Args:
        device: Where the averaged copy lives; None keeps it on the model's device.
        use_buffers: Whether buffers are averaged along with the parameters.
        decay: The weight of the old average in each update.
        update_every_n_steps: Update after the optimizer steps whose 0-based index is a multiple of this; 0 or less
            turns step updates off.
        update_starting_at_step: No step updates before this 0-based step index (None: from the first step).
        update_starting_at_epoch: Also update at the end of every epoch from this 0-based index on (None: never).
        kwargs: Passed to ``AveragedModel``; the averaging function is this class's own.

    Raises:
        TypeError: If ``kwargs`` hold ``avg_fn`` or ``multi_avg_fn``.
    """

    def __init__(
        self,
        device: torch.device | str | int | None = None,
        use_buffers: bool = True,
        decay: float = 0.999,
        update_every_n_steps: int = 1,
        update_starting_at_step: int | None = None,
        update_starting_at_epoch: int | None = None,
        **kwargs: Any,
    ) -> None:
        given = sorted({"avg_fn", "multi_avg_fn"} & kwargs.keys())
        if given:
            raise TypeError(f"EMAWeightAveraging averages with its own EMA function; it takes no {', '.join(given)}.")
        super().__init__(device=device, use_buffers=use_buffers, multi_avg_fn=get_ema_multi_avg_fn(decay), **kwargs)
        self.decay = decay
        self.update_every_n_steps = update_every_n_steps
        self.update_starting_at_step = update_starting_at_step
        self.update_starting_at_epoch = update_starting_at_epoch

    @override
    def should_update(self, step_idx: int | None = None, epoch_idx: int | None = None) -> bool:
        """After a step: from ``update_starting_at_step`` on, every ``update_every_n_steps``-th step. At an epoch's
        end: from ``update_starting_at_epoch`` on, when that is set."""
        if step_idx is not None:
            started = self.update_starting_at_step is None or step_idx >= self.update_starting_at_step
            if started and self.update_every_n_steps > 0 and step_idx % self.update_every_n_steps == 0:
                return True
        if epoch_idx is not None and self.update_starting_at_epoch is not None:
            return epoch_idx >= self.update_starting_at_epoch
        return False
