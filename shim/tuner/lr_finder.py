"""The learning-rate range test: train a few steps while the learning rate grows, record the smoothed loss, and
suggest the learning rate where the loss falls fastest.
"""

import importlib
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler
from typing_extensions import override

from shim.callbacks.callback import Callback
from shim.core.optimizer import LRSchedulerConfig
from shim.tuner.attributes import lightning_hasattr, lightning_setattr
from shim.tuner.search import LoopCounters, borrowed_callbacks_and_loggers, restore_snapshot, save_snapshot
from shim.utilities.exceptions import MisconfigurationException
from shim.utilities.rank_zero import get_logger, rank_zero_warn

if TYPE_CHECKING:
    from shim.core.module import LightningModule
    from shim.trainer.trainer import Trainer

__all__: list[str] = []

log = get_logger(__name__)

_LR_NAMES = ("lr", "learning_rate")


def _determine_lr_attr_name(model: "LightningModule", attr_name: str = "") -> str:
    """``attr_name`` when the model (or its hparams, or the datamodule) holds it, else ``lr`` or ``learning_rate``."""
    if attr_name:
        if not lightning_hasattr(model, attr_name):
            raise AttributeError(
                f"lr_find(attr_name={attr_name!r}): neither the model nor its `hparams` (nor the datamodule) has"
                f" an attribute {attr_name!r}."
            )
        return attr_name
    for name in _LR_NAMES:
        if lightning_hasattr(model, name):
            return name
    raise AttributeError(
        f"The learning rate finder updates the model's learning rate, which it looks for under the names {_LR_NAMES}"
        " on the model and its `hparams`; none is there. Name yours with `.lr_find(attr_name=...)`."
    )


class _LRFinder:
    """The result of a learning-rate range test: ``results = {"lr": [...], "loss": [...]}``, one entry per step.

    Args:
        mode: ``"linear"`` or ``"exponential"``: how the learning rate grows from step to step.
        lr_min: The learning rate of the first step.
        lr_max: The learning rate reached after ``num_training`` steps.
        num_training: The number of steps the test takes (fewer when the loss diverges).
    """

    def __init__(self, mode: str, lr_min: float, lr_max: float, num_training: int) -> None:
        if mode not in ("linear", "exponential"):
            raise ValueError(f"mode should be either `linear` or `exponential`, got {mode!r}")
        self.mode = mode
        self.lr_min = lr_min
        self.lr_max = lr_max
        self.num_training = num_training
        self.results: dict[str, Any] = {}
        self._total_batch_idx = 0
        self._optimal_idx: int | None = None
        # `trainer.tune` (Lightning 1.x) suggests by 1.9's rule: the loss slope per step, not per learning rate
        self._lightning_1x = False

    def _exchange_scheduler(self, trainer: "Trainer") -> None:
        """Start the one optimizer at ``lr_min`` and attach the scheduler that raises it after every step."""
        optimizers = trainer.strategy.optimizers
        if len(optimizers) != 1:
            raise MisconfigurationException(
                f"The learning rate finder tunes one optimizer; `configure_optimizers()` returned {len(optimizers)}."
            )
        optimizer = optimizers[0]
        for group in optimizer.param_groups:
            group["lr"] = self.lr_min
            group["initial_lr"] = self.lr_min
        scheduler_type = _LinearLR if self.mode == "linear" else _ExponentialLR
        scheduler = scheduler_type(optimizer, self.lr_max, self.num_training)
        trainer.strategy.optimizers = [optimizer]
        trainer.strategy.lr_scheduler_configs = [LRSchedulerConfig(scheduler, interval="step")]

    def plot(self, suggest: bool = False, show: bool = False, ax: Any = None) -> Any:
        """Draw loss against learning rate with matplotlib; returns the figure.

        Args:
            suggest: Mark the suggested learning rate with a red dot.
            show: Call ``matplotlib.pyplot.show()``.
            ax: The axes to draw on; a new figure is made when None.

        Raises:
            MisconfigurationException: If matplotlib is not installed.
        """
        try:
            plt = importlib.import_module("matplotlib.pyplot")
        except ImportError:
            raise MisconfigurationException(
                "`plot()` draws with Matplotlib, which is not installed: `pip install matplotlib`."
            ) from None
        lrs, losses = self.results["lr"], self.results["loss"]
        if ax is None:
            fig, ax = plt.subplots()
        else:
            fig = ax.figure
        ax.plot(lrs, losses)
        if self.mode == "exponential":
            ax.set_xscale("log")
        ax.set_xlabel("Learning rate")
        ax.set_ylabel("Loss")
        if suggest:
            self.suggestion()
            if self._optimal_idx:
                ax.plot(lrs[self._optimal_idx], losses[self._optimal_idx], markersize=10, marker="o", color="red")
        if show:
            plt.show()
        return fig

    def suggestion(self, skip_begin: int = 10, skip_end: int = 1) -> float | None:
        """The learning rate where the loss falls most steeply, ignoring the first and last few points.

        Args:
            skip_begin: Points to ignore at the start (too early to tell).
            skip_end: Points to ignore at the end (where the loss may blow up).

        Returns:
            The suggested learning rate, or None when fewer than two finite losses remain.
        """
        all_losses = self.results["loss"]
        losses = torch.tensor(all_losses[skip_begin:-skip_end])
        lrs = torch.tensor(self.results["lr"][skip_begin:-skip_end])
        finite = torch.isfinite(losses)
        losses, lrs = losses[finite], lrs[finite]
        if len(losses) < 2:
            log.error(
                "No learning rate is suggested: fewer than two finite losses were recorded. Run more steps"
                " (`num_training`) or give the finder more data."
            )
            self._optimal_idx = None
            return None
        if self._lightning_1x:
            steepest = int(torch.argmin(torch.gradient(losses)[0]).item())
            self._optimal_idx = steepest + skip_begin
            lr_1x: float = self.results["lr"][self._optimal_idx]
            return lr_1x
        # the slope of the loss over the learning rate, on the uneven grid of learning rates
        gradients = torch.gradient(losses, spacing=[lrs])[0]
        steepest = int(torch.argmin(gradients).item())
        kept = torch.arange(len(all_losses))[skip_begin:-skip_end][finite]
        self._optimal_idx = int(kept[steepest].item())
        lr: float = self.results["lr"][self._optimal_idx]
        return lr


def lr_find(
    trainer: "Trainer",
    model: "LightningModule",
    min_lr: float = 1e-8,
    max_lr: float = 1,
    num_training: int = 100,
    mode: str = "exponential",
    early_stop_threshold: float | None = 4.0,
    update_attr: bool = False,
    attr_name: str = "",
    lightning_1x: bool = False,
) -> _LRFinder | None:
    """Run the range test inside a fit that has set up its optimizer; restore the run afterwards.

    With ``update_attr`` the suggestion is written to the model's learning-rate attribute and the optimizer;
    ``lightning_1x`` makes the suggestion follow Lightning 1.9's rule.

    Returns:
        The finder with its results, or None under ``fast_dev_run`` (which skips the test).
    """
    if trainer.fast_dev_run:
        rank_zero_warn("No learning rate search under `fast_dev_run`: the learning rate is left as it is.")
        return None
    if update_attr:
        attr_name = _determine_lr_attr_name(model, attr_name)
    path = save_snapshot(trainer, "lr_find")
    start_steps = trainer.global_step
    strategy, fit_loop = trainer.strategy, trainer.fit_loop
    saved = (strategy.optimizers, strategy.lr_scheduler_configs, fit_loop.epoch_loop.max_steps)
    saved_limit_val = trainer.limit_val_batches
    counters = LoopCounters(trainer, fit_loop)
    recorder = _LRCallback(num_training, early_stop_threshold)
    finder = _LRFinder(mode, min_lr, max_lr, num_training)
    finder._lightning_1x = lightning_1x
    finished = False
    try:
        strategy.lr_scheduler_configs = []
        fit_loop.epoch_loop.max_steps = num_training + start_steps
        trainer.limit_val_batches = num_training
        with borrowed_callbacks_and_loggers(trainer, [recorder]):
            finder._exchange_scheduler(trainer)
            fit_loop.run()
        if trainer.global_step != num_training + start_steps:
            log.info(f"The loss diverged: the learning rate finder stopped after {trainer.global_step} steps.")
        finder.results = {"lr": recorder.lrs, "loss": recorder.losses}
        finder._total_batch_idx = fit_loop.total_batch_idx
        finished = True
    finally:
        strategy.optimizers, strategy.lr_scheduler_configs, fit_loop.epoch_loop.max_steps = saved
        trainer.limit_val_batches = saved_limit_val
        counters.restore()
        restore_snapshot(trainer, path)
        # the next run builds its loaders afresh
        fit_loop.epoch_loop.val_loop.loaders = None
        fit_loop.loader = None
        fit_loop.setup_data()
    if update_attr and finished:
        lr = finder.suggestion()
        if lr is not None:
            lightning_setattr(model, attr_name, lr)
            for optimizer in trainer.optimizers:
                for group in optimizer.param_groups:
                    group["lr"] = lr
            log.info(f"Learning rate set to {lr}")
    return finder


class _LRCallback(Callback):
    """Records the learning rate before and the smoothed loss after each optimizer step; stops on divergence.

    The loss is an exponential moving average with bias correction (``beta``); the test stops when it exceeds
    ``early_stop_threshold`` times the best smoothed loss so far.
    """

    def __init__(self, num_training: int, early_stop_threshold: float | None = 4.0, beta: float = 0.98) -> None:
        self.num_training = num_training
        self.early_stop_threshold = early_stop_threshold
        self.beta = beta
        self.losses: list[float] = []
        self.lrs: list[float] = []
        self.avg_loss = 0.0
        self.best_loss = 0.0

    def _is_stepping_batch(self, trainer: "Trainer") -> bool:
        return (trainer.fit_loop.batch_idx + 1) % trainer.accumulate_grad_batches == 0

    @override
    def on_train_batch_start(
        self, trainer: "Trainer", pl_module: "LightningModule", batch: Any, batch_idx: int
    ) -> None:
        if self._is_stepping_batch(trainer):
            self.lrs.append(trainer.lr_scheduler_configs[0].scheduler.lr[0])

    @override
    def on_train_batch_end(
        self, trainer: "Trainer", pl_module: "LightningModule", outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if not self._is_stepping_batch(trainer):
            return
        if not outputs:
            self.losses.append(float("nan"))
            return
        loss = outputs if isinstance(outputs, torch.Tensor) else outputs["loss"]
        current_step = trainer.global_step
        self.avg_loss = self.beta * self.avg_loss + (1 - self.beta) * loss.item()
        smoothed = self.avg_loss / (1 - self.beta ** (current_step + 1))
        threshold = self.early_stop_threshold
        if threshold is not None and current_step > 1 and smoothed > threshold * self.best_loss:
            trainer.should_stop = True
        trainer.should_stop = trainer.strategy.broadcast(trainer.should_stop)
        if smoothed < self.best_loss or current_step == 1:
            self.best_loss = smoothed
        self.losses.append(smoothed)


class _RangeTestLR(LRScheduler):
    """Base of the range-test schedulers: the first step keeps ``lr_min``, step ``i`` applies ``_at(base, i / n)``."""

    def __init__(self, optimizer: Optimizer, end_lr: float, num_iter: int, last_epoch: int = -1) -> None:
        self.end_lr = end_lr
        self.num_iter = num_iter
        self._lr: list[float | Tensor] = []
        super().__init__(optimizer, last_epoch)

    def _at(self, base_lr: float, fraction: float) -> float:
        raise NotImplementedError

    @override
    def get_lr(self) -> list[float | Tensor]:
        fraction = (self.last_epoch + 1) / self.num_iter
        if self.last_epoch > 0:
            self._lr = [self._at(float(base_lr), fraction) for base_lr in self.base_lrs]
        else:
            self._lr = list(self.base_lrs)
        return self._lr

    @property
    def lr(self) -> list[float | Tensor]:
        return self._lr


class _LinearLR(_RangeTestLR):
    """Raises the learning rate in equal steps from ``lr_min`` to ``end_lr`` over ``num_iter`` steps."""

    @override
    def _at(self, base_lr: float, fraction: float) -> float:
        return base_lr + fraction * (self.end_lr - base_lr)


class _ExponentialLR(_RangeTestLR):
    """Raises the learning rate by a constant factor per step, from ``lr_min`` to ``end_lr`` over ``num_iter``."""

    @override
    def _at(self, base_lr: float, fraction: float) -> float:
        return float(base_lr * (self.end_lr / base_lr) ** fraction)
