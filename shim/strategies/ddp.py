"""``DDPStrategy``: one process per device, gradients averaged by ``torch.nn.parallel.DistributedDataParallel``."""

import atexit
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, suppress
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim import Optimizer
from typing_extensions import override

from shim.accelerators.accelerator import Accelerator
from shim.plugins.environments import ClusterEnvironment, detect_cluster_environment
from shim.plugins.precision.precision import Precision
from shim.strategies.launch import Launcher, MultiProcessingLauncher, SubprocessScriptLauncher
from shim.strategies.strategy import Strategy
from shim.utilities.rank_zero import set_rank
from shim.utilities.seed import reset_seed

if TYPE_CHECKING:
    from shim.trainer.trainer import Trainer

__all__ = ["DDPStrategy", "default_pg_timeout"]

default_pg_timeout = timedelta(seconds=1800)
_START_METHODS = ("popen", "spawn", "fork", "forkserver")
_REDUCE_OPS = {"sum": "SUM", "max": "MAX", "min": "MIN", "product": "PRODUCT"}
_UNUSED_PARAMETERS_HINT = (
    "Some parameters of the LightningModule got no gradient from the loss that training_step returned. If that"
    " is on purpose, enable their detection in DDP with `strategy="
    "'ddp_find_unused_parameters_true'` or `strategy=DDPStrategy(find_unused_parameters=True)`."
)


class DDPStrategy(Strategy):
    """Trains one copy of the model per process and averages the gradients after every backward pass.

    Args:
        accelerator: The hardware; the Trainer fills it in from its ``accelerator`` argument.
        parallel_devices: One device per local process; the Trainer fills it in from ``devices``.
        cluster_environment: Where ranks and the main address come from (detected when ``None``).
        checkpoint_io: Kept for Lightning compatibility; checkpoints are written with ``torch.save``.
        precision_plugin: The precision plugin; the Trainer's ``precision`` fills it in.
        process_group_backend: ``"gloo"``, ``"nccl"``, ...; by default NCCL on CUDA and gloo otherwise.
        timeout: How long a collective waits for the other ranks before failing.
        start_method: ``"popen"`` re-runs the script per rank; ``"spawn"``, ``"fork"``, ``"forkserver"`` start
            processes with ``torch.multiprocessing``.
        **kwargs: Passed to ``DistributedDataParallel`` (``find_unused_parameters``, ``static_graph``, ...).

    Raises:
        ValueError: If ``start_method`` is not one of the four.
    """

    strategy_name = "ddp"

    def __init__(
        self,
        accelerator: Accelerator | None = None,
        parallel_devices: list[torch.device] | None = None,
        cluster_environment: ClusterEnvironment | None = None,
        checkpoint_io: Any | None = None,
        precision_plugin: Precision | None = None,
        process_group_backend: str | None = None,
        timeout: timedelta | None = default_pg_timeout,
        start_method: str = "popen",
        **kwargs: Any,
    ) -> None:
        super().__init__(accelerator=accelerator, precision_plugin=precision_plugin)
        if start_method not in _START_METHODS:
            raise ValueError(f"start_method={start_method!r} is not supported; choose one of {list(_START_METHODS)}")
        self.parallel_devices = parallel_devices
        self.cluster_environment: ClusterEnvironment = cluster_environment or detect_cluster_environment()
        self.checkpoint_io = checkpoint_io
        self._process_group_backend = process_group_backend
        self._timeout = timeout if timeout is not None else default_pg_timeout
        self._start_method = start_method
        self._ddp_kwargs = kwargs
        self._num_nodes = 1
        self._local_rank: int | None = None  # set in spawned workers; otherwise the environment says
        self._launcher: Launcher | None = None

    # -- configuration ---------------------------------------------------------------------------------
    @property
    @override
    def launcher(self) -> Launcher | None:
        return self._launcher

    @property
    def num_nodes(self) -> int:
        return self._num_nodes

    @num_nodes.setter
    def num_nodes(self, num_nodes: int) -> None:
        self._num_nodes = num_nodes

    @property
    def num_processes(self) -> int:
        return len(self.parallel_devices) if self.parallel_devices is not None else 0

    @property
    def process_group_backend(self) -> str | None:
        return self._process_group_backend

    @property
    def distributed_sampler_kwargs(self) -> dict[str, int]:
        return {"num_replicas": self.num_nodes * self.num_processes, "rank": self.global_rank}

    def configure_launcher(self) -> None:
        """Pick how the other processes start: re-running the script, or torch.multiprocessing."""
        if self._start_method == "popen":
            self._launcher = SubprocessScriptLauncher(self.cluster_environment, self.num_processes, self.num_nodes)
        else:
            self._launcher = MultiProcessingLauncher(self, start_method=self._start_method)

    def set_world_ranks(self) -> None:
        """Tell the environment (and ``rank_zero_only``) this process's global rank and the world size."""
        environment = self.cluster_environment
        environment.set_global_rank(self.node_rank * self.num_processes + self.local_rank)
        environment.set_world_size(self.num_nodes * self.num_processes)
        set_rank(self.global_rank)

    # -- ranks -----------------------------------------------------------------------------------------
    @property
    @override
    def root_device(self) -> torch.device:
        assert self.parallel_devices is not None
        return self.parallel_devices[self.local_rank]

    @property
    @override
    def global_rank(self) -> int:
        return self.cluster_environment.global_rank()

    @property
    @override
    def local_rank(self) -> int:
        return self._local_rank if self._local_rank is not None else self.cluster_environment.local_rank()

    @property
    @override
    def node_rank(self) -> int:
        return self.cluster_environment.node_rank()

    @property
    @override
    def world_size(self) -> int:
        return self.cluster_environment.world_size()

    # -- setup -----------------------------------------------------------------------------------------
    @override
    def setup_environment(self) -> None:
        super().setup_environment()
        reset_seed()
        self.set_world_ranks()
        if dist.is_initialized():
            return
        environment = self.cluster_environment
        backend = self._process_group_backend or ("nccl" if self.root_device.type == "cuda" else "gloo")
        self._process_group_backend = backend
        dist.init_process_group(
            backend,
            init_method=f"tcp://{environment.main_address}:{environment.main_port}",
            rank=self.global_rank,
            world_size=self.world_size,
            timeout=self._timeout,
        )
        # a process group left to the interpreter's exit can abort the process there ("terminate called without an
        # active exception", as gloo's threads are destroyed while still joinable): shut it down first
        atexit.register(_destroy_process_group)

    @override
    def setup(self, trainer: "Trainer") -> None:
        super().setup(trainer)
        assert self._model is not None
        if trainer.training_fn:
            # DDP copies rank 0's weights to every rank when it wraps the model
            device_ids = None if self.root_device.type == "cpu" else [self.root_device.index]
            self._model = DistributedDataParallel(self._model, device_ids=device_ids, **self._ddp_kwargs)
        else:
            # no wrapper (no gradients to average), so copy rank 0's weights by hand
            for tensor in [*self._model.parameters(), *self._model.buffers()]:
                dist.broadcast(tensor.data, src=0)

    # -- steps -----------------------------------------------------------------------------------------
    @override
    def _step(self, name: str, context: Any, args: tuple[Any, ...]) -> Any:
        wrapper = self._model
        if not isinstance(wrapper, DistributedDataParallel):
            return super()._step(name, context, args)
        return self._forward_through(wrapper, lambda: Strategy._step(self, name, context, args))

    def _forward_through(self, wrapper: DistributedDataParallel, step: Callable[[], Any]) -> Any:
        """Run ``step`` as the wrapped module's forward, so DDP prepares its gradient hooks for what it returns."""
        inner: nn.Module = wrapper.module
        module = self._lightning_module
        manual = module is not None and not module.automatic_optimization

        own_forward = inner.forward  # the module's forward, which the step reaches by calling the module itself
        running = False

        def forward(*args: Any, **kwargs: Any) -> Any:
            nonlocal running
            if running:  # `self(batch)` inside the step: the module's own forward, not a second step
                return own_forward(*args, **kwargs)
            running = True
            output = step()
            if manual:
                # the step already ran manual_backward; keep DDP from preparing for a second backward
                wrapper.require_backward_grad_sync = False
            return output

        had_forward = "forward" in vars(inner)
        original = vars(inner).get("forward")
        object.__setattr__(inner, "forward", forward)
        try:
            return wrapper()
        finally:
            wrapper.require_backward_grad_sync = True
            if had_forward:
                object.__setattr__(inner, "forward", original)
            else:
                object.__delattr__(inner, "forward")

    @override
    def backward(self, closure_loss: Tensor, optimizer: Optimizer | None, *args: Any, **kwargs: Any) -> Tensor:
        wrapper = self._model
        module = self._lightning_module
        if isinstance(wrapper, DistributedDataParallel) and module is not None and not module.automatic_optimization:
            _prepare_for_backward(wrapper, closure_loss)
        return super().backward(closure_loss, optimizer, *args, **kwargs)

    # -- collectives -----------------------------------------------------------------------------------
    @override
    def reduce(self, tensor: Any, group: Any | None = None, reduce_op: Any | None = "mean") -> Any:
        """Reduce ``tensor`` over all processes: ``"mean"`` (default), ``"sum"``, ``"max"``, ``"min"``, or a ReduceOp.

        Non-tensors come back unchanged.
        """
        if not isinstance(tensor, Tensor) or not dist.is_initialized():
            return tensor
        op: Any
        mean = reduce_op is None or (isinstance(reduce_op, str) and reduce_op.lower() in ("mean", "avg"))
        if mean:
            op = dist.ReduceOp.SUM
        elif isinstance(reduce_op, str):
            if reduce_op.lower() not in _REDUCE_OPS:
                raise ValueError(f"reduce_op={reduce_op!r} is not supported; use 'mean', 'sum', 'max' or 'min'")
            op = getattr(dist.ReduceOp, _REDUCE_OPS[reduce_op.lower()])
        else:
            op = reduce_op
        dist.all_reduce(tensor, op=op, group=group)
        if not mean:
            return tensor
        size = dist.get_world_size(group)
        if not torch.is_floating_point(tensor):
            return tensor.copy_(tensor / size)
        return tensor.div_(size)

    @override
    def reduce_for_log(self, tensor: Tensor, reduce_fx: str) -> Tensor:
        return self.reduce(tensor, reduce_op=reduce_fx)

    @override
    def reduce_boolean_decision(self, decision: bool, all: bool = True) -> bool:  # noqa: A002 - Lightning's name
        """Combine a per-process decision: true when all processes (``all=True``) or any process says so."""
        if not dist.is_initialized():
            return decision
        votes = torch.tensor(int(decision), device=self.root_device)
        votes = self.reduce(votes, reduce_op="sum")
        return bool(votes == self.world_size) if all else bool(votes > 0)

    @override
    def barrier(self, name: str | None = None) -> None:
        if not dist.is_initialized():
            return
        if dist.get_backend() == "nccl":
            dist.barrier(device_ids=[self.root_device.index])
        else:
            dist.barrier()

    @override
    def broadcast(self, obj: Any, src: int = 0) -> Any:
        if not dist.is_initialized():
            return obj
        holder = [obj]
        dist.broadcast_object_list(holder, src)
        return holder[0]

    @override
    def all_gather(self, tensor: Tensor, group: Any | None = None, sync_grads: bool = False) -> Tensor:
        """Gather ``tensor`` from every process into one tensor of shape ``(world_size, *tensor.shape)``."""
        if not dist.is_initialized():
            return tensor
        tensor = tensor.contiguous()
        if sync_grads:
            import torch.distributed.nn.functional as dist_fn

            return torch.stack(dist_fn.all_gather(tensor, group=group or dist.group.WORLD))
        gathered = [torch.empty_like(tensor) for _ in range(dist.get_world_size(group))]
        dist.all_gather(gathered, tensor, group=group)
        return torch.stack(gathered)

    # -- lifecycle -------------------------------------------------------------------------------------
    @override
    def on_exception(self, exception: BaseException) -> None:
        if "Expected to have finished reduction in the prior iteration" in str(exception) and exception.args:
            exception.args = (f"{exception.args[0]}\n{_UNUSED_PARAMETERS_HINT}", *exception.args[1:])

    @override
    def teardown(self) -> None:
        if isinstance(self._model, DistributedDataParallel):
            self._model = self._lightning_module
        self.cluster_environment.teardown()
        super().teardown()

    def block_backward_sync(self) -> AbstractContextManager[Any]:
        """Skip DDP's gradient averaging inside this context (accumulation steps before the last)."""
        from contextlib import nullcontext

        if isinstance(self._model, DistributedDataParallel):
            return self._model.no_sync()
        return nullcontext()


def _destroy_process_group() -> None:
    """Shut the default process group down at exit, once every rank is done with it (rank 0 hosts its store)."""
    if not dist.is_initialized():
        return
    # not when this rank ends on an unhandled error (`sys.last_value` is set): the others may be stuck in a step.
    # Bounded too: a rank that failed and left must not make the others wait at exit for long
    if dist.get_backend() == "gloo" and not hasattr(sys, "last_value"):
        with suppress(RuntimeError):
            dist.monitored_barrier(timeout=timedelta(seconds=30))
    dist.destroy_process_group()


def _prepare_for_backward(wrapper: DistributedDataParallel, output: Any) -> None:
    """Arm DDP's gradient hooks for a backward pass the user starts (manual optimization)."""
    if not (torch.is_grad_enabled() and wrapper.require_backward_grad_sync):
        return
    wrapper.require_forward_param_sync = True
    tensors: list[Tensor] = []
    if wrapper.find_unused_parameters and not wrapper.static_graph:
        from torch.nn.parallel.distributed import _find_tensors

        tensors = list(_find_tensors(output))
    reducer = wrapper.reducer
    reducer._rebuild_buckets()
    reducer.prepare_for_backward(tensors)
