"""The training, evaluation and prediction loops."""

from shim.loops.evaluation_loop import EvaluationLoop
from shim.loops.fit_loop import FitLoop
from shim.loops.prediction_loop import PredictionLoop
from shim.loops.training_epoch_loop import TrainingEpochLoop

__all__ = ["EvaluationLoop", "FitLoop", "PredictionLoop", "TrainingEpochLoop"]
