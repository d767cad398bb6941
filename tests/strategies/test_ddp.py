"""DDP on CPU (gloo): launchers, equivalence with one process, sync_dist metrics, rank-zero files, faults, resolver."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import torch

import shim
from shim.accelerators.resolve import resolve_hardware
from shim.strategies import DDPStrategy, SingleDeviceStrategy
from shim.strategies.launch import MultiProcessingLauncher, SubprocessScriptLauncher
from shim.utilities.exceptions import MisconfigurationException

_BIN = Path(sys.executable).parent

# One script for every run: `script.py STRATEGY DEVICES BATCH OUT [fail]`. It writes rank 0's view of the run to
# OUT/result.json. `DEVICES=1` is the single-process reference, which reads the data through a one-replica
# DistributedSampler so that its batch k holds exactly the samples of the two ranks' batch k together (see below).
SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from datetime import timedelta

    import torch
    from torch.utils.data import DataLoader, TensorDataset
    from torch.utils.data.distributed import DistributedSampler

    import shim as pl
    from shim.strategies import DDPStrategy


    class Model(pl.LightningModule):
        def __init__(self, fail):
            super().__init__()
            self.layer = torch.nn.Linear(4, 1)
            self.fail = fail

        def forward(self, x):
            return self.layer(x)

        def training_step(self, batch, batch_idx):
            if self.fail and self.global_rank == 1 and batch_idx == 2:
                raise RuntimeError("rank 1 failed on purpose")
            x, y = batch
            loss = torch.nn.functional.mse_loss(self(x), y)  # the module's own forward, inside DDP's
            self.log("train_loss", loss, sync_dist=True, on_step=False, on_epoch=True)
            # per-rank "max" of the same value on both ranks: comparable with the single process, unlike a loss
            weight_max = self.layer.weight.detach().abs().max()
            self.log("weight_max", weight_max, sync_dist=True, on_step=False, on_epoch=True, reduce_fx="max")
            self.log("seen", float(len(x)), sync_dist=True, on_step=False, on_epoch=True, reduce_fx="sum")
            return loss

        def validation_step(self, batch, batch_idx):
            x, y = batch
            self.log("val_loss", torch.nn.functional.mse_loss(self.layer(x), y), sync_dist=True)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)


    def dataset():
        g = torch.Generator().manual_seed(0)
        return TensorDataset(torch.randn(32, 4, generator=g), torch.randn(32, 1, generator=g))


    if __name__ == "__main__":
        strategy, devices, batch, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
        fail = "fail" in sys.argv[5:]
        pl.seed_everything(1)
        model = Model(fail)
        if devices == 1:
            sampler = DistributedSampler(dataset(), num_replicas=1, rank=0, shuffle=True, seed=1)
            train = DataLoader(dataset(), batch_size=batch, sampler=sampler)
        else:
            train = DataLoader(dataset(), batch_size=batch, shuffle=True)
            if strategy.startswith("ddp"):
                start = "spawn" if strategy == "ddp_spawn" else "popen"
                strategy = DDPStrategy(start_method=start, timeout=timedelta(seconds=30))
        trainer = pl.Trainer(
            accelerator="cpu", devices=devices, strategy=strategy, default_root_dir=out,
            max_epochs=int(os.environ.get("TEST_MAX_EPOCHS", "2")),
            enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=1,
        )
        trainer.fit(model, train, DataLoader(dataset(), batch_size=batch), ckpt_path=os.environ.get("TEST_CKPT"))
        if trainer.is_global_zero:
            loader = trainer.train_dataloader
            with open(os.path.join(out, "result.json"), "w") as f:
                json.dump({
                    "weights": [p.tolist() for p in model.parameters()],
                    "metrics": {k: float(v) for k, v in trainer.callback_metrics.items()},
                    "best": trainer.checkpoint_callback.best_model_path,
                    "world_size": trainer.world_size,
                    "sampler": type(loader.sampler).__name__ if loader is not None else None,
                }, f)
    """
)


def _run(
    tmp_path: Path, command: list[str], timeout: float = 60, **env_extra: str
) -> tuple[subprocess.CompletedProcess[str], Any]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONWARNINGS": "ignore", **env_extra}
    for key in ("LOCAL_RANK", "RANK", "WORLD_SIZE", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT", "PL_GLOBAL_SEED"):
        env.pop(key, None)
    command = [c.replace("SCRIPT", str(script)).replace("OUT", str(out)) for c in command]
    proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout)
    result_file = out / "result.json"
    return proc, json.loads(result_file.read_text()) if result_file.exists() else None


@pytest.fixture(scope="module")
def single_process(tmp_path_factory: pytest.TempPathFactory) -> Any:
    proc, result = _run(tmp_path_factory.mktemp("single"), [sys.executable, "SCRIPT", "auto", "1", "8", "OUT"])
    assert proc.returncode == 0, proc.stderr
    return result


def _assert_same_training(result: Any, reference: Any) -> None:
    # SGD without momentum on a mean loss: each DDP rank computes the mean gradient of its 4 samples and DDP averages
    # the two, which is the mean gradient of the 8 samples; the DistributedSampler(shuffle, seed=1) permutation of
    # epoch e gives rank r the indices perm[r::2], so both ranks' batch k together are perm[8k:8k+8], which is the
    # reference's batch k (its one-replica sampler yields the same permutation). Hence the same steps, up to the
    # float rounding of summing the gradient in a different order.
    for got, expected in zip(result["weights"], reference["weights"], strict=True):
        torch.testing.assert_close(torch.tensor(got), torch.tensor(expected), atol=1e-5, rtol=0)
    assert result["metrics"].keys() == reference["metrics"].keys()
    for name, value in reference["metrics"].items():
        assert result["metrics"][name] == pytest.approx(value, abs=1e-5), name
    assert result["world_size"] == 2


def _assert_rank_zero_files(out: Path) -> None:
    versions = sorted(p.name for p in (out / "lightning_logs").iterdir())
    assert versions == ["version_0"]
    checkpoints = sorted(p.name for p in (out / "lightning_logs" / "version_0" / "checkpoints").iterdir())
    assert checkpoints == ["epoch=1-step=8.ckpt"]
    assert len(list((out / "lightning_logs" / "version_0").glob("events.out.tfevents.*"))) == 1


@pytest.mark.parametrize("strategy", ["ddp", "ddp_spawn"])
def test_two_processes_train_like_one_with_the_global_batch(tmp_path: Path, strategy: str, single_process: Any) -> None:
    proc, result = _run(tmp_path, [sys.executable, "SCRIPT", strategy, "2", "4", "OUT"])
    assert proc.returncode == 0, proc.stderr
    _assert_same_training(result, single_process)
    assert result["metrics"]["seen"] == 32.0  # "sum" over both ranks: every sample once per epoch
    # a spawn run's main process never sets up the data; the re-launched script's rank 0 does
    assert result["sampler"] == ("DistributedSampler" if strategy == "ddp" else None)
    assert result["best"] == str(
        tmp_path / "out" / "lightning_logs" / "version_0" / "checkpoints" / "epoch=1-step=8.ckpt"
    )
    _assert_rank_zero_files(tmp_path / "out")


def test_every_rank_resumes_from_the_same_checkpoint(tmp_path: Path, single_process: Any) -> None:
    first, _ = _run(tmp_path / "a", [sys.executable, "SCRIPT", "ddp", "2", "4", "OUT"], TEST_MAX_EPOCHS="1")
    assert first.returncode == 0, first.stderr
    (checkpoint,) = (tmp_path / "a" / "out" / "lightning_logs" / "version_0" / "checkpoints").iterdir()
    assert checkpoint.name == "epoch=0-step=4.ckpt"
    proc, result = _run(tmp_path / "b", [sys.executable, "SCRIPT", "ddp", "2", "4", "OUT"], TEST_CKPT=str(checkpoint))
    assert proc.returncode == 0, proc.stderr
    # both ranks restored the same weights and optimizer state, so the second epoch matches an uninterrupted run
    for got, expected in zip(result["weights"], single_process["weights"], strict=True):
        torch.testing.assert_close(torch.tensor(got), torch.tensor(expected), atol=1e-5, rtol=0)


def test_torchrun_gives_the_same_result(tmp_path: Path, single_process: Any) -> None:
    command = [str(_BIN / "torchrun"), "--standalone", "--nproc_per_node", "2", "SCRIPT", "ddp", "2", "4", "OUT"]
    proc, result = _run(tmp_path, command)
    assert proc.returncode == 0, proc.stderr
    _assert_same_training(result, single_process)
    _assert_rank_zero_files(tmp_path / "out")


def test_an_error_on_one_rank_ends_the_whole_run(tmp_path: Path) -> None:
    # rank 1 (a re-launched script) raises while rank 0 waits in a collective: the launcher's observer kills rank 0
    proc, result = _run(tmp_path, [sys.executable, "SCRIPT", "ddp", "2", "4", "OUT", "fail"], timeout=60)
    assert proc.returncode != 0
    assert "rank 1 failed on purpose" in proc.stderr
    assert result is None


# `killed_script.py OUT`: each rank writes OUT/pid-RANK once it is inside its first training step; the steps sleep, so
# the fit would last ~25 s (100 steps per rank), long enough to kill a rank from outside while both ranks are mid-fit
KILLED_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from datetime import timedelta

    import torch
    from torch.utils.data import DataLoader, TensorDataset

    import shim as pl
    from shim.strategies import DDPStrategy


    class Model(pl.LightningModule):
        def __init__(self, out):
            super().__init__()
            self.layer = torch.nn.Linear(4, 1)
            self.out = out

        def training_step(self, batch, batch_idx):
            if batch_idx == 0:
                with open(os.path.join(self.out, f"pid-{self.global_rank}"), "w") as f:
                    f.write(str(os.getpid()))
            time.sleep(0.25)
            x, y = batch
            return torch.nn.functional.mse_loss(self.layer(x), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)


    if __name__ == "__main__":
        out = sys.argv[1]
        data = TensorDataset(torch.randn(800, 4), torch.randn(800, 1))
        trainer = pl.Trainer(
            accelerator="cpu", devices=2, strategy=DDPStrategy(timeout=timedelta(seconds=600)), max_epochs=1,
            logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        )
        trainer.fit(Model(out), DataLoader(data, batch_size=4))
    """
)


def test_a_rank_killed_from_outside_ends_the_whole_run(tmp_path: Path) -> None:
    # rank 1 is SIGKILLed mid-fit, so it never raises; rank 0 must not wait for it in a collective (the process group
    # timeout is 600 s here): the whole run has to exit with an error within the bound
    script = tmp_path / "killed_script.py"
    script.write_text(KILLED_SCRIPT)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    for key in ("LOCAL_RANK", "RANK", "WORLD_SIZE", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT", "PL_GLOBAL_SEED"):
        env.pop(key, None)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    rank_1_pid_file = tmp_path / "pid-1"
    try:
        deadline = time.monotonic() + 60
        while not (rank_1_pid_file.exists() and rank_1_pid_file.read_text()):
            assert proc.poll() is None, "the run ended before rank 1 started training"
            assert time.monotonic() < deadline, "rank 1 did not start training within 60 s"
            time.sleep(0.05)
        os.kill(int(rank_1_pid_file.read_text()), signal.SIGKILL)
        # either the launcher's observer sees rank 1's exit code and kills rank 0, or gloo notices the closed
        # connection first and rank 0's next collective raises; both end the run in about a second
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode != 0
    assert "exited with code -9" in stderr or "Connection closed by peer" in stderr, stderr[-2000:]


# -- resolver -----------------------------------------------------------------------------------------------------
def _trainer(**kwargs: Any) -> shim.Trainer:
    return shim.Trainer(logger=False, enable_progress_bar=False, enable_checkpointing=False, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "start_method", "ddp_kwargs", "world_size"),
    [
        ({"devices": 2}, "popen", {}, 2),
        ({"devices": 2, "strategy": "ddp"}, "popen", {}, 2),
        ({"devices": 2, "strategy": "ddp_spawn"}, "spawn", {}, 2),
        ({"devices": 2, "strategy": "ddp_fork"}, "fork", {}, 2),
        ({"devices": 2, "strategy": "ddp_find_unused_parameters_true"}, "popen", {"find_unused_parameters": True}, 2),
        ({"devices": 1, "strategy": "ddp"}, "popen", {}, 1),
        ({"devices": 2, "num_nodes": 2}, "popen", {}, 4),
        ({"devices": 1, "num_nodes": 2}, "popen", {}, 2),
    ],
)
def test_ddp_strategy_resolution(
    monkeypatch: pytest.MonkeyPatch,
    kwargs: dict[str, Any],
    start_method: str,
    ddp_kwargs: dict[str, Any],
    world_size: int,
) -> None:
    for key in ("LOCAL_RANK", "RANK", "WORLD_SIZE", "NODE_RANK", "TORCHELASTIC_RUN_ID", "SLURM_NTASKS"):
        monkeypatch.delenv(key, raising=False)
    trainer = _trainer(accelerator="cpu", **kwargs)
    strategy = trainer.strategy
    assert isinstance(strategy, DDPStrategy)
    assert strategy._start_method == start_method
    assert strategy._ddp_kwargs == ddp_kwargs
    assert trainer.world_size == world_size
    assert trainer.global_rank == 0
    assert trainer.num_nodes == kwargs.get("num_nodes", 1)
    launcher = SubprocessScriptLauncher if start_method == "popen" else MultiProcessingLauncher
    assert isinstance(strategy.launcher, launcher)


def test_single_device_and_instances() -> None:
    assert isinstance(_trainer(accelerator="cpu", devices=1).strategy, SingleDeviceStrategy)
    # as in Lightning, "single_device" with several devices takes the first one
    assert isinstance(_trainer(accelerator="cpu", devices=2, strategy="single_device").strategy, SingleDeviceStrategy)
    given = DDPStrategy(find_unused_parameters=True)
    trainer = _trainer(accelerator="cpu", devices=2, strategy=given)
    assert trainer.strategy is given
    assert given.parallel_devices == [torch.device("cpu")] * 2
    assert given._ddp_kwargs == {"find_unused_parameters": True}
    assert trainer.world_size == 2


@pytest.mark.parametrize(
    ("strategy", "devices", "num_nodes", "error", "match"),
    [
        ("dp", 2, 1, ValueError, "strategy='dp' is not a valid strategy name"),
        ("nonsense", 1, 1, ValueError, "not a valid strategy name"),
        ("deepspeed", 2, 1, MisconfigurationException, "not supported by shim yet"),
        ("fsdp", 2, 1, MisconfigurationException, "not supported by shim yet"),
        ("ddp", 0, 1, MisconfigurationException, "devices=0"),
        ("ddp", 2, 0, MisconfigurationException, "num_nodes=0"),
    ],
)
def test_resolver_errors(strategy: str, devices: int, num_nodes: int, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        resolve_hardware("cpu", devices, strategy, num_nodes)


def test_ddp_strategy_rejects_unknown_start_method() -> None:
    with pytest.raises(ValueError, match="start_method='thread'"):
        DDPStrategy(start_method="thread")


def test_torchrun_world_size_must_match_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"TORCHELASTIC_RUN_ID": "x", "RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "2", "GROUP_RANK": "0"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    trainer = _trainer(accelerator="cpu", devices=3, strategy="ddp")
    assert trainer.strategy.launcher is not None
    with pytest.raises(ValueError, match="WORLD_SIZE=2"):
        trainer.strategy.launcher.launch(lambda: None)


def test_the_process_group_is_shut_down_at_exit() -> None:
    # a gloo group left to the interpreter's exit can abort the process there; the handler the strategy registers
    # after creating the group waits for the other ranks (at most its timeout) and then destroys it
    script = textwrap.dedent(
        """
        import socket
        import torch.distributed as dist
        from shim.strategies.ddp import _destroy_process_group

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
        _destroy_process_group()
        print(dist.is_initialized())
        _destroy_process_group()  # again, with no group: nothing to do
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "False"
