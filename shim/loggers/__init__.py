"""Experiment loggers: where the Trainer sends metrics and hyper-parameters (TensorBoard event files, CSV)."""

from shim.loggers.csv_logs import CSVLogger
from shim.loggers.logger import Logger
from shim.loggers.tensorboard import TensorBoardLogger

__all__ = ["CSVLogger", "Logger", "TensorBoardLogger"]
