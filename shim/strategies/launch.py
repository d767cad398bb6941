"""Launchers: start a distributed run's other processes, by re-running the script or with torch.multiprocessing."""

import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.multiprocessing as mp

from shim.compat import script_command
from shim.plugins.environments import ClusterEnvironment
from shim.trainer.states import TrainerFn, TrainerState
from shim.utilities.seed import collect_rng_states, set_rng_states

if TYPE_CHECKING:
    from shim.strategies.ddp import DDPStrategy
    from shim.trainer.trainer import Trainer

__all__ = ["Launcher", "MultiProcessingLauncher", "SubprocessScriptLauncher"]


class Launcher:
    """Starts the processes of a run and runs the Trainer's entry point in each of them."""

    is_interactive_compatible = False

    def launch(self, function: Callable[..., Any], *args: Any, trainer: "Trainer | None" = None) -> Any:
        raise NotImplementedError

    def kill(self, signum: int) -> None:
        """Send ``signum`` to the processes this launcher started."""


class SubprocessScriptLauncher(Launcher):
    """Re-runs ``sys.argv`` once per extra local rank; this process becomes local rank 0.

    The children find ``LOCAL_RANK`` (and ``MASTER_ADDR``, ``MASTER_PORT``, ``NODE_RANK``, ``WORLD_SIZE``) in their
    environment, so their Trainer knows it is already one process of the run and does not launch again.
    """

    def __init__(self, cluster_environment: ClusterEnvironment, num_processes: int, num_nodes: int) -> None:
        self.cluster_environment = cluster_environment
        self.num_processes = num_processes
        self.num_nodes = num_nodes
        self.procs: list[subprocess.Popen[bytes]] = []

    def launch(self, function: Callable[..., Any], *args: Any, trainer: "Trainer | None" = None) -> Any:
        self.cluster_environment.validate_settings(num_devices=self.num_processes, num_nodes=self.num_nodes)
        if not self.cluster_environment.creates_processes_externally:
            self._start_children()
            ChildProcessObserver(os.getpid(), self.procs).start()
        return function(*args)

    def _start_children(self) -> None:
        if self.procs:
            raise RuntimeError("The launcher can only start the other processes once.")
        environment = self.cluster_environment
        os.environ["MASTER_ADDR"] = environment.main_address
        os.environ["MASTER_PORT"] = str(environment.main_port)
        os.environ["NODE_RANK"] = str(environment.node_rank())
        os.environ["LOCAL_RANK"] = "0"
        os.environ["WORLD_SIZE"] = str(self.num_processes * self.num_nodes)
        for local_rank in range(1, self.num_processes):
            env = {**os.environ, "LOCAL_RANK": str(local_rank)}
            # under `shim run` the new rank goes through `shim run` too, so its Lightning imports resolve to shim
            self.procs.append(subprocess.Popen(script_command(), env=env))

    def kill(self, signum: int) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signum)


class ChildProcessObserver(threading.Thread):
    """Watches the re-launched ranks; when one fails, kills the others and this process so nothing hangs."""

    def __init__(self, main_pid: int, children: list["subprocess.Popen[bytes]"], period: float = 1.0) -> None:
        super().__init__(daemon=True, name="shim-child-process-observer")
        self._main_pid = main_pid
        self._children = children
        self._period = period

    def run(self) -> None:
        while True:
            time.sleep(self._period)
            codes = [proc.poll() for proc in self._children]
            if all(code == 0 for code in codes):
                return
            failed = next((i for i, code in enumerate(codes) if code), None)
            if failed is not None:
                proc = self._children[failed]
                print(
                    f"[rank: {failed + 1}] Child process {proc.pid} exited with code {proc.returncode};"
                    " terminating all other processes.",
                    file=sys.stderr,
                )
                # SIGKILL: ranks blocked inside a collective do not react to SIGTERM
                for child in self._children:
                    if child.poll() is None:
                        child.kill()
                os.kill(self._main_pid, signal.SIGKILL)
                return


@dataclass
class WorkerOutput:
    """What rank 0 of a spawned run sends back to the main process."""

    best_model_path: str | None
    weights: bytes | None
    state: TrainerState
    results: Any
    callback_metrics: bytes


class MultiProcessingLauncher(Launcher):
    """Starts every rank with ``torch.multiprocessing`` (``spawn`` or ``fork``) and waits for them.

    The main process takes no part in training; afterwards it receives rank 0's final weights, trainer state, results,
    callback metrics and best checkpoint path, so ``trainer.fit`` behaves as if it ran here.
    """

    def __init__(self, strategy: "DDPStrategy", start_method: str = "spawn") -> None:
        self._strategy = strategy
        self._start_method = start_method
        self.procs: list[Any] = []

    @property
    def is_interactive_compatible(self) -> bool:  # type: ignore[override]
        return self._start_method == "fork"

    def launch(self, function: Callable[..., Any], *args: Any, trainer: "Trainer | None" = None) -> Any:
        environment = self._strategy.cluster_environment
        # every rank must connect to the same port, so pick it here, before the processes start
        os.environ["MASTER_PORT"] = str(environment.main_port)
        context = mp.get_context(self._start_method)
        queue = context.SimpleQueue()
        rng = collect_rng_states() if self._start_method == "spawn" else None
        process_context = mp.start_processes(
            self._run_worker,
            args=(trainer, function, args, queue, rng),
            nprocs=self._strategy.num_processes,
            start_method=self._start_method,
            join=False,
        )
        self.procs = process_context.processes
        # join() raises ProcessRaisedException/ProcessExitedException when a rank fails, after killing the rest
        while not process_context.join():
            pass
        output: WorkerOutput = queue.get()
        if trainer is not None:
            self._recover_results(output, trainer)
        return output.results

    def _run_worker(
        self,
        process_idx: int,
        trainer: "Trainer | None",
        function: Callable[..., Any],
        args: tuple[Any, ...],
        queue: Any,
        rng: dict[str, Any] | None,
    ) -> None:
        if rng is not None:
            set_rng_states(rng)
            # spawned CPU tensors arrive in shared memory: give each rank its own copy of the weights
            for module in [a for a in args if isinstance(a, torch.nn.Module)]:
                for tensor in [*module.parameters(), *module.buffers()]:
                    tensor.data = tensor.data.clone()
        os.environ["LOCAL_RANK"] = str(process_idx)
        self._strategy._local_rank = process_idx
        results = function(*args)
        if trainer is None or process_idx != 0:
            return
        queue.put(self._collect_results(trainer, results))

    @staticmethod
    def _collect_results(trainer: "Trainer", results: Any) -> WorkerOutput:
        callback = trainer.checkpoint_callback
        best = getattr(callback, "best_model_path", None)
        weights = None
        if trainer.state.fn == TrainerFn.FITTING:
            weights = _to_bytes(trainer.lightning_module.state_dict())
        metrics = {k: v.cpu() if isinstance(v, torch.Tensor) else v for k, v in trainer.callback_metrics.items()}
        # tensors travel as bytes: shared-memory tensors would vanish with the worker
        return WorkerOutput(best, weights, trainer.state, _to_bytes(results), _to_bytes(metrics))

    @staticmethod
    def _recover_results(output: WorkerOutput, trainer: "Trainer") -> None:
        callback = trainer.checkpoint_callback
        if callback is not None and hasattr(callback, "best_model_path"):
            callback.best_model_path = str(output.best_model_path)
        if output.weights is not None:
            # not strict: the worker's model may have grown layers in configure_model
            model = trainer._model  # this process never connected the model to its strategy
            assert model is not None
            model.load_state_dict(_from_bytes(output.weights), strict=False)
        trainer.state = output.state
        output.results = _from_bytes(output.results)
        trainer.callback_metrics.update(_from_bytes(output.callback_metrics))

    def kill(self, signum: int) -> None:
        for proc in self.procs:
            if proc.is_alive() and proc.pid is not None:
                os.kill(proc.pid, signum)

    def __getstate__(self) -> dict[str, Any]:
        # processes cannot be pickled into the spawned workers
        return {**self.__dict__, "procs": []}


def _to_bytes(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _from_bytes(data: bytes) -> Any:
    return torch.load(io.BytesIO(data), weights_only=False)
