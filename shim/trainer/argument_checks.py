"""Checks of single Trainer arguments: batch limits, counts, durations, barebones conflicts, accumulation schedules,
the arguments shim does not implement yet, and the model given to ``fit``/``validate``/``test``/``predict``.

Each names the argument, the value and what is allowed, with the exception type Lightning raises for it.
``shim.trainer.config`` calls them while it builds the ``TrainerConfig``.
"""

import datetime
from typing import TYPE_CHECKING, Any

from shim.utilities.compile import from_compiled, is_compiled_wrapper
from shim.utilities.exceptions import (
    MisconfigurationException,
    MisconfigurationTypeError,
)
from shim.utilities.rank_zero import rank_zero_info

if TYPE_CHECKING:
    from shim.core.module import LightningModule

__all__ = [
    "batch_limit",
    "check_barebones",
    "check_model",
    "check_schedule",
    "explain_one",
    "non_negative_int_or_none",
    "parse_duration",
    "parse_max_time",
    "reject_unsupported",
    "resolve_limits",
]


def batch_limit(value: Any, name: str) -> int | float:
    """``None`` means all batches; an int counts batches; a float in [0, 1] is a fraction."""
    if value is None:
        return 1.0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MisconfigurationTypeError(
            f"{name}={value!r} is not valid: give an int number of batches or a float fraction in [0.0, 1.0]."
        )
    if value == 1:
        explain_one(name, value)
    if 0 <= value <= 1:
        return value
    if value > 1 and value % 1.0 == 0:
        return int(value)
    raise MisconfigurationException(
        f"{name}={value!r} is not valid: give an int number of batches or a float fraction in [0.0, 1.0]."
    )


def resolve_limits(
    given: dict[str, int | float | None], overfit_batches: int | float, fast_dev_run: int | bool
) -> dict[str, int | float]:
    """The four ``limit_*_batches``, checked; ``fast_dev_run`` sets each to its count of batches.

    ``overfit_batches`` > 0 takes the place of the train and val limits, whose own values are then not read (not
    even checked), under ``fast_dev_run`` too.
    """
    limits: dict[str, int | float] = {}
    for name, value in given.items():
        if overfit_batches > 0 and name in ("limit_train_batches", "limit_val_batches"):
            limits[name] = overfit_batches
        elif fast_dev_run:
            limits[name] = 1 if fast_dev_run is True else int(fast_dev_run)
        else:
            limits[name] = batch_limit(value, name)
    return limits


def explain_one(name: str, value: int | float) -> None:
    """Log what ``1`` (one batch) or ``1.0`` (all batches) means for ``name``: the two are easy to confuse."""
    is_count = isinstance(value, int)
    if name == "val_check_interval":
        what = (
            "validation will run after every batch"
            if is_count
            else "validation will run at the end of each training epoch"
        )
    else:
        what = "1 batch" if is_count else "100% of the batches"
        what += " per epoch" if name == "limit_train_batches" else ""
        what += " will be used"
    rank_zero_info(f"`Trainer({name}={value!r})` was configured so {what}.")


def non_negative_int_or_none(value: Any, name: str, minimum: int = 0) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise MisconfigurationException(f"{name}={value!r} is not valid: it must be None or an int >= {minimum}.")
    return value


def parse_max_time(value: Any) -> datetime.timedelta | None:
    """``max_time`` as a timedelta: a timedelta, a dict of timedelta fields, or "DD:HH:MM:SS"."""
    return parse_duration(value, "max_time")


def parse_duration(value: Any, name: str) -> datetime.timedelta | None:
    """A duration argument as a timedelta: a timedelta, a dict of timedelta fields, or "DD:HH:MM:SS"."""
    if value is None:
        return None
    if isinstance(value, datetime.timedelta):
        return value
    if isinstance(value, dict):
        try:
            return datetime.timedelta(**value)
        except TypeError:
            raise MisconfigurationException(
                f"{name}={value!r} is not valid: dict keys must be timedelta fields (days, hours, minutes, ...)"
            ) from None
    if isinstance(value, str):
        parts = value.strip().split(":")
        if len(parts) == 4 and all(p.isdigit() for p in parts):
            days, hours, minutes, seconds = (int(p) for p in parts)
            return datetime.timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    raise MisconfigurationException(
        f"{name}={value!r} is not valid: give a datetime.timedelta, a dict such as {{'hours': 1}}, or 'DD:HH:MM:SS'."
    )


def check_barebones(**arguments: Any) -> None:
    """Under ``barebones=True``, an argument that turns on one of the features it switches off is an error."""
    for name, value in arguments.items():
        if name in ("logger", "profiler", "log_every_n_steps", "num_sanity_val_steps", "fast_dev_run"):
            on = value is not None and value is not False and value != 0
        else:  # enable_checkpointing, enable_progress_bar, enable_model_summary, detect_anomaly
            on = bool(value)
        if on:
            raise ValueError(
                f"Trainer(barebones=True, {name}={value!r}): barebones mode runs the loops with nothing optional"
                f" around them; leave {name} unset."
            )
    rank_zero_info(
        "`Trainer(barebones=True)`: checkpointing, logging, the progress bar, the model summary and the sanity check"
        " are off (and fast_dev_run, anomaly detection and profiling may not be turned on), so that what remains"
        " is the Trainer's own overhead."
    )


def check_schedule(schedule: dict[Any, Any]) -> dict[int, int]:
    """A 1.x accumulation schedule ``{epoch: factor}``: epochs ints >= 0, factors ints >= 1."""
    if not schedule:
        raise MisconfigurationException("accumulate_grad_batches={} is not valid: the schedule dict is empty.")
    for epoch, factor in schedule.items():
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise MisconfigurationException(
                f"accumulate_grad_batches={schedule!r} is not valid: epoch keys must be ints >= 0, got {epoch!r}."
            )
        if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
            raise MisconfigurationException(
                f"accumulate_grad_batches={schedule!r} is not valid: factors must be ints >= 1, got {factor!r}"
                f" for epoch {epoch}."
            )
    return dict(sorted(schedule.items()))


def reject_unsupported(**arguments: tuple[Any, Any]) -> None:
    """Refuse each ``name=(value, default)`` whose value is not its default: shim does not implement it yet."""
    for name, (value, default) in arguments.items():
        if value != default:
            raise MisconfigurationException(
                f"Trainer({name}={value!r}) is not implemented by shim yet; leave it at its default ({default!r})."
            )


def check_model(model: Any) -> "LightningModule":
    """The LightningModule to run: ``model`` itself, or the one inside ``torch.compile(module)`` (its forward and
    steps compiled).

    Raises:
        TypeError: If ``model`` is neither, as in Lightning.
    """
    from shim.core.module import LightningModule

    if is_compiled_wrapper(model):
        return from_compiled(model)
    if not isinstance(model, LightningModule):
        raise TypeError(f"`model` must be a `LightningModule`, got `{type(model).__qualname__}`")
    return model
