"""Cluster environments: where a distributed run's ranks, world size and main address come from."""

import os
import re
import socket

import torch

from shim.utilities.rank_zero import set_rank

__all__ = ["ClusterEnvironment", "LightningEnvironment", "SLURMEnvironment", "TorchElasticEnvironment"]


class ClusterEnvironment:
    """Describes one process of a distributed run; subclasses read it from a launcher's environment variables."""

    def __init__(self) -> None:
        self._world_size = 1
        self._global_rank = 0

    @property
    def creates_processes_externally(self) -> bool:
        """Whether something outside shim (torchrun, SLURM, our own re-launch) started this run's processes."""
        return False

    @property
    def main_address(self) -> str:
        return os.environ.get("MASTER_ADDR", "127.0.0.1")

    @property
    def main_port(self) -> int:
        return int(os.environ.get("MASTER_PORT", "12910"))

    @staticmethod
    def detect() -> bool:
        """Whether this process runs under this environment."""
        return False

    def world_size(self) -> int:
        return self._world_size

    def set_world_size(self, size: int) -> None:
        self._world_size = size

    def global_rank(self) -> int:
        return self._global_rank

    def set_global_rank(self, rank: int) -> None:
        self._global_rank = rank
        set_rank(rank)

    def local_rank(self) -> int:
        return int(os.environ.get("LOCAL_RANK", 0))

    def node_rank(self) -> int:
        return int(os.environ.get("NODE_RANK", os.environ.get("GROUP_RANK", 0)))

    def validate_settings(self, num_devices: int, num_nodes: int) -> None:
        """Check the Trainer's ``devices``/``num_nodes`` against the environment.

        Raises:
            ValueError: If they disagree with what the launcher started.
        """

    def teardown(self) -> None:
        """Undo what this environment set while the run was set up."""


class LightningEnvironment(ClusterEnvironment):
    """The default: shim starts the processes itself and tells them their ranks through environment variables."""

    def __init__(self) -> None:
        super().__init__()
        self._main_port = -1

    @property
    def creates_processes_externally(self) -> bool:
        # our own re-launched scripts (and anyone who sets LOCAL_RANK) are already one process of the run
        return "LOCAL_RANK" in os.environ

    @property
    def main_port(self) -> int:
        if self._main_port == -1:
            port = os.environ.get("MASTER_PORT")
            self._main_port = int(port) if port is not None else find_free_network_port()
        return self._main_port

    @staticmethod
    def detect() -> bool:
        return True

    def teardown(self) -> None:
        os.environ.pop("WORLD_SIZE", None)


class TorchElasticEnvironment(ClusterEnvironment):
    """Processes started by ``torchrun`` (torchelastic), which sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``."""

    @property
    def creates_processes_externally(self) -> bool:
        return True

    @staticmethod
    def detect() -> bool:
        return torch.distributed.is_available() and torch.distributed.is_torchelastic_launched()

    def world_size(self) -> int:
        return int(os.environ["WORLD_SIZE"])

    def global_rank(self) -> int:
        return int(os.environ["RANK"])

    def node_rank(self) -> int:
        return int(os.environ.get("GROUP_RANK", 0))

    def validate_settings(self, num_devices: int, num_nodes: int) -> None:
        if num_devices * num_nodes != self.world_size():
            raise ValueError(
                f"devices={num_devices} with num_nodes={num_nodes} asks for {num_devices * num_nodes} processes, but"
                f" torchrun started WORLD_SIZE={self.world_size()}; make them match (for example"
                " `--nproc_per_node` = devices)."
            )


class SLURMEnvironment(ClusterEnvironment):
    """Processes started by SLURM's ``srun``; ranks come from ``SLURM_PROCID``, ``SLURM_LOCALID``, ``SLURM_NODEID``."""

    @property
    def creates_processes_externally(self) -> bool:
        return True

    @property
    def main_address(self) -> str:
        address = os.environ.get("MASTER_ADDR")
        if address is None:
            nodelist = os.environ.get("SLURM_NODELIST", os.environ.get("SLURM_JOB_NODELIST", "127.0.0.1"))
            address = _first_slurm_host(nodelist)
            os.environ["MASTER_ADDR"] = address
        return address

    @property
    def main_port(self) -> int:
        port = os.environ.get("MASTER_PORT")
        if port is None:
            # every task of a job computes the same port from the job id
            job_id = os.environ.get("SLURM_JOB_ID", "0")
            port = str(10000 + int(job_id[-4:]))
            os.environ["MASTER_PORT"] = port
        return int(port)

    @staticmethod
    def detect() -> bool:
        return "SLURM_NTASKS" in os.environ and os.environ.get("SLURM_JOB_NAME") not in ("bash", "interactive")

    def world_size(self) -> int:
        return int(os.environ["SLURM_NTASKS"])

    def global_rank(self) -> int:
        return int(os.environ["SLURM_PROCID"])

    def local_rank(self) -> int:
        return int(os.environ["SLURM_LOCALID"])

    def node_rank(self) -> int:
        return int(os.environ["SLURM_NODEID"])

    def validate_settings(self, num_devices: int, num_nodes: int) -> None:
        per_node = os.environ.get("SLURM_NTASKS_PER_NODE")
        if per_node is not None and per_node.isdigit() and int(per_node) != num_devices:
            raise ValueError(
                f"devices={num_devices} does not match SLURM's --ntasks-per-node={per_node}; make them match."
            )
        nodes = os.environ.get("SLURM_NNODES")
        if nodes is not None and int(nodes) != num_nodes:
            raise ValueError(f"num_nodes={num_nodes} does not match SLURM's --nodes={nodes}; make them match.")


def detect_cluster_environment() -> ClusterEnvironment:
    """The environment this process runs under: torchrun, then SLURM, else shim's own launcher."""
    for environment in (TorchElasticEnvironment, SLURMEnvironment):
        if environment.detect():
            return environment()
    return LightningEnvironment()


def find_free_network_port() -> int:
    """A port on this machine that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


def _first_slurm_host(nodelist: str) -> str:
    """The first host of a SLURM node list such as ``"node[03-05,07],gpu1"``."""
    match = re.match(r"([^,\[]+)(\[([^\]]+)\])?", nodelist.strip())
    if match is None:
        return "127.0.0.1"
    prefix, ranges = match.group(1), match.group(3)
    if ranges is None:
        return prefix
    return prefix + ranges.split(",")[0].split("-")[0]
