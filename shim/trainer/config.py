"""Trainer arguments to one frozen ``TrainerConfig``: defaults filled in, values checked, ``fast_dev_run`` applied.

Every check names the argument, the value and what is allowed, with the exception type Lightning raises for it.
"""

import datetime
import inspect
import numbers
import os
from dataclasses import dataclass
from typing import Any

import torch

from shim.trainer.argument_checks import (
    batch_limit,
    check_barebones,
    check_schedule,
    non_negative_int_or_none,
    parse_duration,
    parse_max_time,
    resolve_limits,
)
from shim.utilities.enums import GradClipAlgorithmType
from shim.utilities.exceptions import (
    MisconfigurationException,
    MisconfigurationTypeError,
    MisconfigurationValueError,
)
from shim.utilities.rank_zero import rank_zero_info, rank_zero_warn

__all__ = [
    "CONFIG_ARGUMENTS",
    "TrainerConfig",
    "apply_determinism",
    "parse_trainer_args",
]


@dataclass(frozen=True)
class TrainerConfig:
    """The loop-shaping Trainer arguments, resolved."""

    max_epochs: int | None
    min_epochs: int | None
    max_steps: int
    min_steps: int | None
    max_time: datetime.timedelta | None
    limit_train_batches: int | float
    limit_val_batches: int | float
    limit_test_batches: int | float
    limit_predict_batches: int | float
    overfit_batches: int | float
    val_check_interval: int | float | str | dict[str, int] | datetime.timedelta
    # a time-based val_check_interval, in seconds: validation runs when that much time passed since the last one
    val_check_seconds: float | None
    check_val_every_n_epoch: int | None
    num_sanity_val_steps: int | float
    log_every_n_steps: int
    accumulate_grad_batches: int
    accumulation_schedule: dict[int, int] | None
    gradient_clip_val: int | float | None
    gradient_clip_algorithm: str | None
    fast_dev_run: int | bool
    deterministic: bool | str | None
    benchmark: bool | None
    inference_mode: bool
    detect_anomaly: bool
    barebones: bool
    reload_dataloaders_every_n_epochs: int
    enable_progress_bar: bool
    enable_model_summary: bool
    enable_checkpointing: bool


def parse_trainer_args(
    *,
    max_epochs: int | None,
    min_epochs: int | None,
    max_steps: int,
    min_steps: int | None,
    max_time: Any,
    limit_train_batches: int | float | None,
    limit_val_batches: int | float | None,
    limit_test_batches: int | float | None,
    limit_predict_batches: int | float | None,
    overfit_batches: int | float = 0.0,
    val_check_interval: int | float | str | datetime.timedelta | dict[str, int] | None,
    check_val_every_n_epoch: int | None,
    num_sanity_val_steps: int | None,
    log_every_n_steps: int | None,
    accumulate_grad_batches: int | dict[int, int],
    gradient_clip_val: int | float | None,
    gradient_clip_algorithm: str | None,
    fast_dev_run: int | bool,
    deterministic: bool | str | None,
    benchmark: bool | None,
    inference_mode: bool,
    detect_anomaly: bool,
    barebones: bool,
    reload_dataloaders_every_n_epochs: int,
    enable_progress_bar: bool | None,
    enable_model_summary: bool | None,
    enable_checkpointing: bool | None,
    logger: Any = None,
    profiler: Any = None,
) -> TrainerConfig:
    """Check the Trainer's loop arguments and resolve their defaults."""
    if barebones:
        check_barebones(
            enable_checkpointing=enable_checkpointing,
            logger=logger,
            enable_progress_bar=enable_progress_bar,
            log_every_n_steps=log_every_n_steps,
            enable_model_summary=enable_model_summary,
            num_sanity_val_steps=num_sanity_val_steps,
            fast_dev_run=fast_dev_run,
            detect_anomaly=detect_anomaly,
            profiler=profiler,
        )
        log_every_n_steps = num_sanity_val_steps = 0
    if isinstance(max_epochs, bool) or (max_epochs is not None and not isinstance(max_epochs, int)):
        raise MisconfigurationException(f"max_epochs={max_epochs!r} is not valid: it must be an int >= -1 or None.")
    if isinstance(max_epochs, int) and max_epochs < -1:
        raise MisconfigurationException(
            f"max_epochs={max_epochs} is not valid: it must be a non-negative integer, or -1 for no limit."
        )
    if isinstance(max_steps, bool) or not isinstance(max_steps, (int, float)):
        raise MisconfigurationTypeError(
            f"max_steps={max_steps!r} is not valid: it must be a non-negative integer, or -1 for no limit."
        )
    if not isinstance(max_steps, int) or max_steps < -1:
        raise MisconfigurationException(
            f"max_steps={max_steps!r} is not valid: it must be a non-negative integer, or -1 for no limit."
        )
    min_epochs = non_negative_int_or_none(min_epochs, "min_epochs")
    min_steps = non_negative_int_or_none(min_steps, "min_steps")
    check_val_every_n_epoch = non_negative_int_or_none(check_val_every_n_epoch, "check_val_every_n_epoch", 1)
    if num_sanity_val_steps is None:
        num_sanity_val_steps = 2
    if isinstance(num_sanity_val_steps, bool) or not isinstance(num_sanity_val_steps, int) or num_sanity_val_steps < -1:
        raise MisconfigurationException(
            f"num_sanity_val_steps={num_sanity_val_steps!r} is not valid: give an int >= 0, or -1 for all batches."
        )
    log_every_n_steps = 50 if log_every_n_steps is None else log_every_n_steps
    if isinstance(log_every_n_steps, bool) or not isinstance(log_every_n_steps, int) or log_every_n_steps < 0:
        raise MisconfigurationException(
            f"log_every_n_steps={log_every_n_steps!r} is not valid: give an int >= 1, or 0 to never log steps."
        )
    schedule: dict[int, int] | None = None
    if isinstance(accumulate_grad_batches, dict):
        schedule = check_schedule(accumulate_grad_batches)
        accumulate_grad_batches = schedule.get(0, 1)
    elif isinstance(accumulate_grad_batches, bool) or not isinstance(accumulate_grad_batches, int):
        raise MisconfigurationException(
            f"accumulate_grad_batches={accumulate_grad_batches!r} is not valid: give an int >= 1, or a dict"
            " {epoch: factor} such as {5: 3, 10: 20}."
        )
    if accumulate_grad_batches < 1:
        raise MisconfigurationException(
            f"accumulate_grad_batches={accumulate_grad_batches} is not valid: it must be an int >= 1"
            " (1 means no accumulation)."
        )
    if gradient_clip_val is not None and (
        isinstance(gradient_clip_val, bool) or not isinstance(gradient_clip_val, numbers.Real)
    ):
        raise TypeError(f"gradient_clip_val={gradient_clip_val!r} is not valid: it must be an int, a float or None.")
    if gradient_clip_val is not None and gradient_clip_val < 0:
        raise MisconfigurationException(
            f"gradient_clip_val={gradient_clip_val} is not valid: it must be >= 0 (0 or None turns clipping off)."
        )
    if gradient_clip_algorithm is not None:
        if not isinstance(gradient_clip_algorithm, str) or not GradClipAlgorithmType.supported_type(
            gradient_clip_algorithm.lower()
        ):
            raise MisconfigurationException(
                f"gradient_clip_algorithm={gradient_clip_algorithm!r} is not valid; allowed values are 'norm' and"
                " 'value' (in any letter case)."
            )
        gradient_clip_algorithm = GradClipAlgorithmType(gradient_clip_algorithm.lower())
    if isinstance(fast_dev_run, int) and not isinstance(fast_dev_run, bool) and fast_dev_run < 0:
        raise MisconfigurationException(
            f"fast_dev_run={fast_dev_run} is not valid: give True/False or an int >= 0 number of batches."
        )
    if not isinstance(fast_dev_run, (bool, int)):
        raise MisconfigurationValueError(
            f"fast_dev_run={fast_dev_run!r} is not valid: give True/False or an int >= 0 number of batches."
        )
    if deterministic not in (None, True, False, "warn"):
        raise MisconfigurationException(
            f"deterministic={deterministic!r} is not valid: give True, False, 'warn' or None."
        )
    if (
        isinstance(reload_dataloaders_every_n_epochs, bool)
        or not isinstance(reload_dataloaders_every_n_epochs, int)
        or reload_dataloaders_every_n_epochs < 0
    ):
        raise MisconfigurationException(
            f"reload_dataloaders_every_n_epochs={reload_dataloaders_every_n_epochs!r} is not valid: give an int >= 0."
        )
    overfit = batch_limit(overfit_batches, "overfit_batches")
    limits = resolve_limits(
        {
            "limit_train_batches": limit_train_batches,
            "limit_val_batches": limit_val_batches,
            "limit_test_batches": limit_test_batches,
            "limit_predict_batches": limit_predict_batches,
        },
        overfit,
        fast_dev_run,
    )
    val_check: Any
    val_check_seconds: float | None = None
    if isinstance(val_check_interval, (str, dict, datetime.timedelta)):
        duration = parse_duration(val_check_interval, "val_check_interval")
        assert duration is not None
        val_check, val_check_seconds = val_check_interval, duration.total_seconds()
    else:
        val_check = batch_limit(val_check_interval, "val_check_interval")
        if val_check == 0:
            raise MisconfigurationException(
                "val_check_interval=0 is not valid: give a fraction in (0.0, 1.0] of the epoch or an int >= 1 of"
                " batches (to turn validation off, set limit_val_batches=0)."
            )
        if check_val_every_n_epoch is None and isinstance(val_check_interval, float):
            raise MisconfigurationException(
                f"val_check_interval={val_check_interval} is a fraction of an epoch, but check_val_every_n_epoch=None"
                " counts batches across epochs: give an int number of batches or a duration ('DD:HH:MM:SS', a"
                " timedelta or a dict such as {'minutes': 5})."
            )
    num_sanity: int | float = float("inf") if num_sanity_val_steps == -1 else num_sanity_val_steps
    if barebones:
        enable_progress_bar = enable_model_summary = enable_checkpointing = False
    if fast_dev_run:
        n = 1 if fast_dev_run is True else int(fast_dev_run)
        rank_zero_info(
            f"`fast_dev_run`: each loop runs {n} batch(es), once, to check that the code runs; nothing is logged or"
            " checkpointed."
        )
        max_steps, max_epochs, num_sanity, val_check, check_val_every_n_epoch = n, 1, 0, 1.0, 1
        max_time, val_check_seconds = None, None
    elif max_epochs is None:
        max_epochs = None  # resolved at fit: 1000 unless max_steps or max_time bounds training
    return TrainerConfig(
        max_epochs=max_epochs,
        min_epochs=min_epochs,
        max_steps=max_steps,
        min_steps=min_steps,
        max_time=parse_max_time(max_time),
        val_check_interval=val_check,
        val_check_seconds=val_check_seconds,
        overfit_batches=overfit,
        check_val_every_n_epoch=check_val_every_n_epoch,
        num_sanity_val_steps=num_sanity,
        log_every_n_steps=log_every_n_steps,
        accumulate_grad_batches=accumulate_grad_batches,
        accumulation_schedule=schedule,
        gradient_clip_val=gradient_clip_val,
        gradient_clip_algorithm=gradient_clip_algorithm,
        fast_dev_run=True if fast_dev_run == 1 else fast_dev_run,  # Lightning reports 1 as True
        deterministic=deterministic,
        benchmark=benchmark,
        inference_mode=inference_mode,
        detect_anomaly=detect_anomaly,
        barebones=barebones,
        reload_dataloaders_every_n_epochs=reload_dataloaders_every_n_epochs,
        enable_progress_bar=enable_progress_bar is not False,
        enable_model_summary=enable_model_summary is not False,
        enable_checkpointing=enable_checkpointing is not False,
        **limits,
    )


def apply_determinism(deterministic: bool | str | None, benchmark: bool | None) -> None:
    """Set torch's deterministic-algorithms switch and cuDNN's benchmark mode as the two flags ask."""
    if deterministic is not None:
        torch.use_deterministic_algorithms(bool(deterministic), warn_only=deterministic == "warn")
        if deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if benchmark is None:
        benchmark = False if deterministic else torch.backends.cudnn.benchmark
    elif benchmark and deterministic:
        rank_zero_warn("benchmark=True may make results non-deterministic although deterministic=True was set.")
    torch.backends.cudnn.benchmark = benchmark


# the Trainer arguments that parse_trainer_args reads
CONFIG_ARGUMENTS: tuple[str, ...] = tuple(inspect.signature(parse_trainer_args).parameters)
