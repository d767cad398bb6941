"""shim's Trainer against a plain PyTorch loop written here: same seed, same data, same final weights.

Hypothesis generates the Trainer settings; the loop below is written the way Lightning consumes data (exactly
the limited number of batches per epoch, one ``iter()`` per epoch, validation wherever its cadence says) so that
both draw from the global random generator in the same order (shuffling, dropout).
"""

import math
from dataclasses import dataclass
from typing import Any

import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import shim


@dataclass(frozen=True)
class Setting:
    max_epochs: int
    n_samples: int
    batch_size: int
    shuffle: bool
    accumulate: int | dict[int, int]
    clip_val: float | None
    clip_algorithm: str
    limit_train: int | float
    val_check_interval: int | float | None
    check_val_every_n_epoch: int | None
    optimizer: str
    scheduler: str | None

    def accumulation(self, epoch: int) -> int:
        if isinstance(self.accumulate, int):
            return self.accumulate
        factor = 1
        for start, value in sorted(self.accumulate.items()):
            if epoch >= start:
                factor = value
        return factor

    def batches_per_epoch(self) -> int:
        length = math.ceil(self.n_samples / self.batch_size)
        if isinstance(self.limit_train, int):
            return min(length, self.limit_train)
        return int(length * self.limit_train)

    def val_check_batch(self) -> int:
        n = self.batches_per_epoch()
        vci = 1.0 if self.val_check_interval is None else self.val_check_interval
        return vci if isinstance(vci, int) else max(1, int(n * vci))

    def validates_after(self, epoch: int, batch_idx: int, total_idx: int) -> bool:
        every = self.check_val_every_n_epoch
        if every is not None and (epoch + 1) % every != 0:
            return False
        index = total_idx if every is None else batch_idx
        return (index + 1) % self.val_check_batch() == 0


@st.composite
def settings(draw: Any) -> Setting:
    n_samples = draw(st.integers(4, 24))
    batch_size = draw(st.integers(1, 5))
    length = math.ceil(n_samples / batch_size)
    limit_train: int | float = draw(
        st.one_of(st.integers(1, length + 2), st.sampled_from([1.0, 0.5, 0.75]).filter(lambda f: int(length * f) >= 1))
    )
    n = min(length, limit_train) if isinstance(limit_train, int) else int(length * limit_train)
    every = draw(st.sampled_from([1, 2, None]))
    val_check_interval: int | float | None
    if every is None:
        val_check_interval = draw(st.integers(1, 2 * n))
    else:
        val_check_interval = draw(st.one_of(st.none(), st.sampled_from([0.5, 1.0]), st.integers(1, n)))
    accumulate = draw(st.one_of(st.integers(1, 4), st.sampled_from([{1: 2}, {0: 2, 2: 3}, {1: 3}])))
    clip_val = draw(st.sampled_from([None, 0.0, 0.05, 0.5]))
    return Setting(
        max_epochs=draw(st.integers(1, 3)),
        n_samples=n_samples,
        batch_size=batch_size,
        shuffle=draw(st.booleans()),
        accumulate=accumulate,
        clip_val=clip_val,
        clip_algorithm=draw(st.sampled_from(["norm", "value"])),
        limit_train=limit_train,
        val_check_interval=val_check_interval,
        check_val_every_n_epoch=every,
        optimizer=draw(st.sampled_from(["sgd", "adam"])),
        scheduler=draw(st.sampled_from([None, "epoch", "step"])),
    )


def _network() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Dropout(0.2), nn.Linear(8, 1))


def _optimizer(setting: Setting, params: Any) -> torch.optim.Optimizer:
    if setting.optimizer == "sgd":
        return torch.optim.SGD(params, lr=0.1, momentum=0.5)
    return torch.optim.Adam(params, lr=0.01)


def _data(setting: Setting) -> tuple[TensorDataset, TensorDataset]:
    generator = torch.Generator().manual_seed(123)
    x = torch.randn(setting.n_samples, 3, generator=generator)
    y = x.sum(dim=1, keepdim=True) + 0.1 * torch.randn(setting.n_samples, 1, generator=generator)
    vx = torch.randn(5, 3, generator=generator)
    return TensorDataset(x, y), TensorDataset(vx, vx.sum(dim=1, keepdim=True))


class Regressor(shim.LightningModule):
    def __init__(self, setting: Setting) -> None:
        super().__init__()
        self.setting = setting
        self.net = _network()
        self.val_runs = 0

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.mse_loss(self.net(x), y)
        self.log("loss", loss)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self.net(x), y))

    def on_validation_start(self) -> None:
        if not self.trainer.sanity_checking:
            self.val_runs += 1

    def configure_optimizers(self) -> Any:
        optimizer = _optimizer(self.setting, self.parameters())
        if self.setting.scheduler is None:
            return optimizer
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.9)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": self.setting.scheduler}}


def _shim_run(setting: Setting) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    train, val = _data(setting)
    torch.manual_seed(7)
    model = Regressor(setting)
    trainer = shim.Trainer(
        max_epochs=setting.max_epochs,
        accumulate_grad_batches=setting.accumulate,
        gradient_clip_val=setting.clip_val,
        gradient_clip_algorithm=setting.clip_algorithm,
        limit_train_batches=setting.limit_train,
        val_check_interval=setting.val_check_interval,
        check_val_every_n_epoch=setting.check_val_every_n_epoch,
        num_sanity_val_steps=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(
        model,
        DataLoader(train, batch_size=setting.batch_size, shuffle=setting.shuffle),
        DataLoader(val, batch_size=2),
    )
    counts = {
        "steps": trainer.global_step,
        "val_runs": model.val_runs,
        "scheduler_steps": trainer.fit_loop.epoch_loop.scheduler_progress.total.completed,
    }
    return {k: v.clone() for k, v in model.net.state_dict().items()}, counts


def _hand_written_run(setting: Setting) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    train, val = _data(setting)
    torch.manual_seed(7)
    net = _network()
    optimizer = _optimizer(setting, net.parameters())
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.9) if setting.scheduler else None
    train_loader = DataLoader(train, batch_size=setting.batch_size, shuffle=setting.shuffle)
    val_loader = DataLoader(val, batch_size=2)
    n_batches = setting.batches_per_epoch()
    steps = val_runs = scheduler_steps = total_idx = 0
    for epoch in range(setting.max_epochs):
        accumulate = setting.accumulation(epoch)
        batches = iter(train_loader)
        for batch_idx in range(n_batches):  # exactly n_batches: never exhaust the loader
            x, y = next(batches)
            net.train()
            loss = nn.functional.mse_loss(net(x), y) / accumulate
            if batch_idx % accumulate == 0:
                optimizer.zero_grad()
            loss.backward()
            is_last = batch_idx == n_batches - 1
            if (batch_idx + 1) % accumulate == 0 or is_last:
                if setting.clip_val:
                    params = [p for group in optimizer.param_groups for p in group["params"]]
                    if setting.clip_algorithm == "norm":
                        nn.utils.clip_grad_norm_(params, setting.clip_val)
                    else:
                        nn.utils.clip_grad_value_(params, setting.clip_val)
                optimizer.step()
                steps += 1
                if scheduler is not None and setting.scheduler == "step":
                    scheduler.step()
                    scheduler_steps += 1
            if is_last and scheduler is not None and setting.scheduler == "epoch":
                scheduler.step()
                scheduler_steps += 1
            if setting.validates_after(epoch, batch_idx, total_idx):
                net.eval()
                with torch.no_grad():
                    for vx, vy in val_loader:
                        nn.functional.mse_loss(net(vx), vy)
                val_runs += 1
            total_idx += 1
    counts = {"steps": steps, "val_runs": val_runs, "scheduler_steps": scheduler_steps}
    return {k: v.clone() for k, v in net.state_dict().items()}, counts


def _closed_form(setting: Setting) -> dict[str, int]:
    n = setting.batches_per_epoch()
    steps = sum(math.ceil(n / setting.accumulation(e)) for e in range(setting.max_epochs))
    val_runs = sum(setting.validates_after(e, i, e * n + i) for e in range(setting.max_epochs) for i in range(n))
    scheduler_steps = {None: 0, "epoch": setting.max_epochs, "step": steps}[setting.scheduler]
    return {"steps": steps, "val_runs": val_runs, "scheduler_steps": scheduler_steps}


@given(settings())
def test_trainer_matches_hand_written_loop(setting: Setting) -> None:
    shim_weights, shim_counts = _shim_run(setting)
    loop_weights, loop_counts = _hand_written_run(setting)
    expected = _closed_form(setting)
    assert shim_counts == expected
    assert loop_counts == expected
    for name, value in loop_weights.items():
        torch.testing.assert_close(shim_weights[name], value, rtol=0, atol=1e-6)
