"""Costs that must not creep back: heavy imports, host syncs and Python calls on the training hot path."""

import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import shim

_MODULES_SNIPPET = (
    "import json, sys, torch; before = set(sys.modules); import shim; "
    "print(json.dumps(sorted(set(sys.modules) - before)))"
)


def test_import_shim_loads_no_heavy_optional_module() -> None:
    new = json.loads(subprocess.run([sys.executable, "-c", _MODULES_SNIPPET], capture_output=True, text=True,
                                    check=True).stdout)  # fmt: skip
    heavy = ("tensorboard", "tqdm", "yaml", "numpy", "matplotlib", "torch._dynamo", "pytorch_lightning", "lightning")
    loaded = [m for m in new if m.split(".")[0] in heavy or m.startswith("torch._dynamo")]
    assert loaded == [], f"`import shim` imported {loaded} on top of `import torch`"


class _CountItems:
    """Counts Tensor.item() / tolist() calls: each one waits for the device on a GPU."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        for name in ("item", "tolist"):
            original = getattr(torch.Tensor, name)

            def counted(tensor: torch.Tensor, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
                self.calls += 1
                return __original(tensor, *args, **kwargs)

            monkeypatch.setattr(torch.Tensor, name, counted)


class _Logging(shim.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("loss", loss, prog_bar=True)
        self.log("loss_epoch_mean", loss, on_step=False, on_epoch=True)
        return loss

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.1)


@pytest.mark.parametrize("steps", [20, 60])
def test_training_steps_do_not_read_tensors_back(steps: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    data = DataLoader(TensorDataset(torch.randn(steps * 2, 4), torch.randn(steps * 2, 1)), batch_size=2)
    counter = _CountItems(monkeypatch)
    for _ in range(2):  # what a hand-written loop of two epochs reads back (the DataLoader's own seed draw)
        for _batch in data:
            pass
    by_hand, counter.calls = counter.calls, 0
    trainer = shim.Trainer(
        max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=str(tmp_path),
    )  # fmt: skip
    trainer.fit(_Logging(), data)
    # no logger and no progress bar: nothing needs a Python number, whatever the number of steps
    assert counter.calls == by_hand
    assert trainer.callback_metrics["loss_epoch_mean"].numel() == 1


class _CountShimCalls:
    """Counts the Python function calls made into shim's own code while it is active."""

    def __init__(self) -> None:
        self.calls = 0
        self._root = str(Path(shim.__file__).parent)

    def __call__(self, frame: Any, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code.co_filename.startswith(self._root):
            self.calls += 1

    def fit(self, steps: int, trainer: "shim.Trainer | None" = None) -> int:
        """Calls into shim during a fit of ``steps`` training steps (by default a bare one: nothing optional on)."""
        data = DataLoader(TensorDataset(torch.randn(steps * 2, 4), torch.randn(steps * 2, 1)), batch_size=2)
        if trainer is None:
            trainer = shim.Trainer(
                max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0,
            )  # fmt: skip
        self.calls = 0
        sys.setprofile(self)
        try:
            trainer.fit(_Logging(), data)
        finally:
            sys.setprofile(None)
        return self.calls


def test_training_step_makes_few_calls_into_shim() -> None:
    # the difference of two run lengths cancels setup and teardown: what is left is the cost of one step. A hand
    # loop makes none. Today's count is 20 (two `self.log` calls, one an epoch mean that reads the batch size);
    # the bound is that count, and fails when a change puts a call back on the per-step path
    counter = _CountShimCalls()
    per_step = (counter.fit(60) - counter.fit(20)) / 40
    assert per_step <= 20, f"{per_step:.1f} Python calls into shim per training step"


def test_training_step_with_the_trainer_defaults_makes_few_calls_into_shim(tmp_path: Path) -> None:
    # the defaults add the progress bar, the TensorBoard logger and checkpointing. Both runs stay under
    # `log_every_n_steps` (no log write) and the bar only draws its last batch (a redraw is time-throttled, so the
    # count would depend on the machine's speed); what is left is the per-step work of the bar, the logger and the
    # checkpoint callback. Today's count is 31 (49 before the hot path lost its small calls); the bound is that count
    def trainer(root: str) -> shim.Trainer:
        bar = shim.callbacks.TQDMProgressBar()
        bar.min_redraw_interval = float("inf")
        return shim.Trainer(max_epochs=1, default_root_dir=str(tmp_path / root), callbacks=[bar])

    counter = _CountShimCalls()
    per_step = (counter.fit(40, trainer("long")) - counter.fit(10, trainer("short"))) / 30
    assert per_step <= 31, f"{per_step:.1f} Python calls into shim per training step with the Trainer's defaults"


def test_bf16_mixed_training_step_makes_few_calls_into_shim() -> None:
    # mixed precision without a gradient scaler takes the direct path too, under the plugin's autocast: today's
    # count is 23, the bare step's 20 plus the plugin making its autocast context (38 through the plugin's methods)
    def trainer() -> shim.Trainer:
        return shim.Trainer(
            max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0, precision="bf16-mixed",
        )  # fmt: skip

    counter = _CountShimCalls()
    per_step = (counter.fit(60, trainer()) - counter.fit(20, trainer())) / 40
    assert per_step <= 23, f"{per_step:.1f} Python calls into shim per bf16-mixed training step"


def _cuda_syncs(run: Any) -> int:
    """Synchronizing CUDA calls made by ``run()``, as counted by torch's sync debug mode."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            run()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchronizing" in str(w.message) for w in caught)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_training_steps_sync_no_more_than_a_hand_loop() -> None:
    def loader(steps: int) -> DataLoader:
        return DataLoader(TensorDataset(torch.randn(steps * 2, 4), torch.randn(steps * 2, 1)), batch_size=2)

    def by_hand(steps: int) -> None:
        model = _Logging().cuda()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for x, y in loader(steps):
            x, y = x.cuda(), y.cuda()
            loss = torch.nn.functional.mse_loss(model.layer(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    def with_shim(steps: int) -> None:
        trainer = shim.Trainer(
            accelerator="gpu", devices=1, max_epochs=1, logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False,
        )  # fmt: skip
        trainer.fit(_Logging(), loader(steps))

    # per step: the difference of two run lengths cancels what setting up and tearing down a run synchronizes
    hand = _cuda_syncs(lambda: by_hand(30)) - _cuda_syncs(lambda: by_hand(10))
    ours = _cuda_syncs(lambda: with_shim(30)) - _cuda_syncs(lambda: with_shim(10))
    assert ours <= hand, f"shim synchronized {ours} times in 20 steps, a hand-written loop {hand} times"
