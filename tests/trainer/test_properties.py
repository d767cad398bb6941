"""Trainer properties that describe the hardware, as Lightning reports them."""

import pytest

import shim


@pytest.mark.parametrize(("devices", "expected_ids"), [(1, [0]), (2, [0, 1]), (3, [0, 1, 2])])
def test_num_devices_counts_the_processes_of_cpu_ddp(devices: int, expected_ids: list[int]) -> None:
    strategy = "ddp" if devices > 1 else "auto"
    trainer = shim.Trainer(accelerator="cpu", devices=devices, strategy=strategy, logger=False)
    assert trainer.device_ids == expected_ids
    assert trainer.num_devices == devices


def test_num_devices_matches_lightning(lightning) -> None:
    for pkg in (lightning, shim):
        trainer = pkg.Trainer(accelerator="cpu", devices=2, strategy="ddp", logger=False)
        assert (trainer.num_devices, trainer.device_ids) == (2, [0, 1])


def test_logger_and_loggers_setters() -> None:
    from shim.loggers import CSVLogger

    first, second = CSVLogger("a"), CSVLogger("b")
    trainer = shim.Trainer()
    assert trainer.loggers == [trainer.logger]
    trainer.logger = first
    assert trainer.loggers == [first]
    trainer.logger = None
    assert (trainer.logger, trainer.loggers) == (None, [])
    trainer.loggers = [first, second]
    assert trainer.logger is first
    trainer.loggers = None
    assert (trainer.logger, trainer.loggers) == (None, [])
    trainer.loggers = (second,)
    assert trainer.loggers == [second]
