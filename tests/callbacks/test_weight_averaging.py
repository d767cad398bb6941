"""WeightAveraging and EMAWeightAveraging: when the average moves, what validation and the fit end see, checkpoints."""

import logging
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel
from torch.utils.data import DataLoader

import shim
from shim.callbacks import Callback, EMAWeightAveraging, WeightAveraging
from shim.demos.boring_classes import BoringModel, RandomDataset


class Model(BoringModel):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Sequential(nn.Linear(32, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
        self.seen_in_validation: list[dict[str, torch.Tensor]] = []

    def validation_step(self, batch: Any, batch_idx: int) -> Any:
        if batch_idx == 0:
            self.seen_in_validation.append(_weights(self))
        return super().validation_step(batch, batch_idx)

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.1)


class StepRecorder(Callback):
    """The model's weights after every optimizer step, and before every training batch."""

    def __init__(self) -> None:
        self.after_step: dict[int, dict[str, torch.Tensor]] = {}
        self.before_batch: list[dict[str, torch.Tensor]] = []

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        self.before_batch.append(_weights(pl_module))

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        # a batch that only accumulates changes no parameter, but batch norm statistics: keep the step's own record
        self.after_step.setdefault(trainer.global_step - 1, _weights(pl_module))


def _weights(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone().float() for k, v in module.state_dict().items() if "num_batches" not in k}


def _weights_of(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.float() for k, v in state_dict.items() if "num_batches" not in k}


def _ema(snapshots: list[dict[str, torch.Tensor]], decay: float) -> dict[str, torch.Tensor]:
    average = dict(snapshots[0])
    for snapshot in snapshots[1:]:
        average = {k: decay * average[k] + (1 - decay) * snapshot[k] for k in average}
    return average


def _assert_close(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    assert got.keys() == want.keys()
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=1e-5, atol=1e-6, msg=key)


def _trainer(tmp_path: Path, callbacks: list[Callback], **kwargs: Any) -> shim.Trainer:
    options: dict[str, Any] = {"max_epochs": 3, "limit_train_batches": 6, "limit_val_batches": 2, "logger": False,
                               "enable_checkpointing": False, "enable_progress_bar": False,
                               "enable_model_summary": False, "num_sanity_val_steps": 0}  # fmt: skip
    options.update(kwargs)
    return shim.Trainer(default_root_dir=str(tmp_path), callbacks=callbacks, **options)


def _loader() -> DataLoader:
    return DataLoader(RandomDataset(32, 64), batch_size=4)


def test_the_weights_after_fit_are_the_ema_of_the_chosen_optimizer_steps(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = Model()
    recorder = StepRecorder()
    averaging = EMAWeightAveraging(decay=0.8, update_every_n_steps=2, update_starting_at_step=1)
    trainer = _trainer(tmp_path, [recorder, averaging], limit_val_batches=0, accumulate_grad_batches=2)
    trainer.fit(model, _loader())

    assert trainer.global_step == 9  # 3 optimizer steps per epoch: 6 batches, two per step
    assert set(range(9)) <= set(recorder.after_step)  # a batch that only accumulates records the step before it
    chosen = [recorder.after_step[i] for i in (2, 4, 6, 8)]  # from step 1 on, indices divisible by 2
    assert isinstance(averaging.average_model, AveragedModel)
    assert int(averaging.average_model.n_averaged) == 4
    want = _ema(chosen, 0.8)
    _assert_close(_weights(model), want)
    assert not torch.allclose(want["layer.0.weight"], recorder.after_step[8]["layer.0.weight"])
    assert averaging.state_dict() == {"latest_update_step": 9}


def test_validation_runs_on_the_average_and_training_goes_on_from_its_own_weights(tmp_path: Path) -> None:
    torch.manual_seed(2)
    model = Model()
    recorder = StepRecorder()
    trainer = _trainer(tmp_path, [recorder, EMAWeightAveraging(decay=0.5)], max_epochs=2)
    trainer.fit(model, _loader(), DataLoader(RandomDataset(32, 8), batch_size=4))

    assert len(model.seen_in_validation) == 2
    for epoch, seen in enumerate(model.seen_in_validation):
        steps = [recorder.after_step[i] for i in range(6 * (epoch + 1))]
        _assert_close(seen, _ema(steps, 0.5))
    # the first batch of epoch 1 starts from the trained weights of step 5, not from the average
    _assert_close(recorder.before_batch[6], recorder.after_step[5])


def test_an_epoch_schedule_from_should_update(tmp_path: Path) -> None:
    class EveryOtherEpoch(WeightAveraging):
        def should_update(self, step_idx: int | None = None, epoch_idx: int | None = None) -> bool:
            return epoch_idx is not None and epoch_idx % 2 == 0

    class EpochRecorder(Callback):
        def __init__(self) -> None:
            self.at_epoch_end: list[dict[str, torch.Tensor]] = []

        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            self.at_epoch_end.append(_weights(pl_module))

    torch.manual_seed(3)
    model = Model()
    recorder = EpochRecorder()
    averaging = EveryOtherEpoch(device="cpu")
    _trainer(tmp_path, [recorder, averaging], max_epochs=4, limit_val_batches=0).fit(model, _loader())

    assert averaging.average_model is not None
    assert int(averaging.average_model.n_averaged) == 2
    epochs = [recorder.at_epoch_end[0], recorder.at_epoch_end[2]]
    _assert_close(_weights(model), {k: (epochs[0][k] + epochs[1][k]) / 2 for k in epochs[0]})


def test_use_buffers_false_averages_the_parameters_and_keeps_the_latest_statistics(tmp_path: Path) -> None:
    torch.manual_seed(4)
    model = Model()
    recorder = StepRecorder()
    averaging = EMAWeightAveraging(decay=0.6, use_buffers=False)
    _trainer(tmp_path, [recorder, averaging], max_epochs=1, limit_val_batches=0).fit(model, _loader())
    got, last = _weights(model), recorder.after_step[5]
    want = _ema([recorder.after_step[i] for i in range(6)], 0.6)
    for key in ("layer.1.running_mean", "layer.1.running_var"):
        torch.testing.assert_close(got[key], last[key])
        assert not torch.allclose(want[key], last[key])
    torch.testing.assert_close(got["layer.0.weight"], want["layer.0.weight"])


def test_the_checkpoint_holds_the_average_and_resuming_from_it_ends_as_the_uninterrupted_fit(tmp_path: Path) -> None:
    def fit(model: Model, ckpt_path: str | None = None) -> StepRecorder:
        recorder = StepRecorder()
        averaging = EMAWeightAveraging(decay=0.7, update_every_n_steps=2)
        every_epoch = shim.callbacks.ModelCheckpoint(dirpath=tmp_path, save_top_k=-1, filename="{epoch}")
        trainer = _trainer(
            tmp_path, [recorder, averaging, every_epoch], max_epochs=4, limit_val_batches=0, enable_checkpointing=True
        )
        trainer.fit(model, loader, ckpt_path=ckpt_path)
        return recorder

    torch.manual_seed(5)
    loader = _loader()
    whole, resumed = Model(), Model()
    resumed.load_state_dict(whole.state_dict())
    recorder = fit(whole)

    checkpoint = torch.load(tmp_path / "epoch=1.ckpt", weights_only=False)  # after 12 optimizer steps
    assert checkpoint["callbacks"]["EMAWeightAveraging"] == {"latest_update_step": 11}  # step index 10, plus 1
    assert set(checkpoint["averaging_state"]) == {"n_averaged"}
    assert int(checkpoint["averaging_state"]["n_averaged"]) == 6  # step indices 0, 2, ..., 10
    _assert_close(_weights_of(checkpoint["state_dict"]), _ema([recorder.after_step[i] for i in range(0, 12, 2)], 0.7))
    _assert_close(_weights_of(checkpoint["current_model_state"]), recorder.after_step[11])

    # a module loaded from the checkpoint gets the average; a resumed fit goes on from the trained weights
    loaded = Model.load_from_checkpoint(tmp_path / "epoch=1.ckpt")
    assert torch.equal(loaded.layer[0].weight, checkpoint["state_dict"]["layer.0.weight"])
    fit(resumed, ckpt_path=str(tmp_path / "epoch=1.ckpt"))
    _assert_close(_weights(resumed), _weights(whole))


def test_a_checkpoint_without_the_average_starts_both_from_its_weights(tmp_path: Path) -> None:
    torch.manual_seed(6)
    model = Model()
    trainer = _trainer(tmp_path, [], max_epochs=1, limit_val_batches=0)
    trainer.fit(model, _loader())
    trainer.save_checkpoint(tmp_path / "plain.ckpt")

    averaging = EMAWeightAveraging()
    resumed = _trainer(tmp_path, [averaging], max_epochs=1, limit_val_batches=0)
    with pytest.warns(UserWarning, match="not written with WeightAveraging"):
        resumed.fit(Model(), _loader(), ckpt_path=str(tmp_path / "plain.ckpt"))
    assert averaging.average_model is not None
    _assert_close(_weights(averaging.average_model.module), _weights(model))


def test_reading_a_checkpoint_outside_fit_warns_and_saving_one_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    torch.manual_seed(7)
    _trainer(tmp_path, [EMAWeightAveraging()], max_epochs=1, enable_checkpointing=True).fit(Model(), _loader())
    path = str(tmp_path / "checkpoints" / "epoch=0-step=6.ckpt")
    trainer = _trainer(tmp_path, [EMAWeightAveraging()])
    with pytest.warns(UserWarning, match="only restores its average when fitting"):
        trainer.validate(Model(), DataLoader(RandomDataset(32, 8)), ckpt_path=path, verbose=False)
    with caplog.at_level(logging.INFO):
        trainer.save_checkpoint(tmp_path / "after-validate.ckpt")
    assert "holds none of its state" in caplog.text
    assert "current_model_state" not in torch.load(tmp_path / "after-validate.ckpt", weights_only=False)


def test_a_model_that_builds_layers_in_configure_model_warns_and_is_averaged_whole(tmp_path: Path) -> None:
    class Lazy(BoringModel):
        def __init__(self) -> None:
            super().__init__()
            self.layer: nn.Module | None = None  # type: ignore[assignment]

        def configure_model(self) -> None:
            self.layer = nn.Sequential(nn.Linear(32, 4), nn.Linear(4, 2))

    averaging = EMAWeightAveraging()
    with pytest.warns(UserWarning, match="configure_model"):
        _trainer(tmp_path, [averaging], max_epochs=1, limit_val_batches=0).fit(Lazy(), _loader())
    assert averaging.average_model is not None
    assert isinstance(averaging.average_model.module.layer, nn.Sequential)


def test_ema_should_update() -> None:
    every_fifth = EMAWeightAveraging(update_every_n_steps=5, update_starting_at_step=10)
    assert [i for i in range(30) if every_fifth.should_update(step_idx=i)] == [10, 15, 20, 25]
    assert not every_fifth.should_update(epoch_idx=4)
    by_epoch = EMAWeightAveraging(update_starting_at_epoch=2)
    assert [e for e in range(5) if by_epoch.should_update(epoch_idx=e)] == [2, 3, 4]
    assert not EMAWeightAveraging(update_every_n_steps=0).should_update(step_idx=0)
    assert WeightAveraging().should_update(step_idx=3)
    assert not WeightAveraging().should_update(epoch_idx=3)


def test_ema_brings_its_own_averaging_function() -> None:
    with pytest.raises(TypeError, match="avg_fn"):
        EMAWeightAveraging(avg_fn=lambda a, b, n: a)
