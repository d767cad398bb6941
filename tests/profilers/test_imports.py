"""``import shim`` loads neither ``cProfile`` nor the PyTorch profiler module: they load when first asked for."""

import json
import subprocess
import sys

_SNIPPET = (
    "import json, sys, torch; before = set(sys.modules); import shim; "
    "print(json.dumps(sorted(set(sys.modules) - before)))"
)


def test_import_shim_leaves_the_heavy_profilers_unloaded() -> None:
    loaded = json.loads(subprocess.run([sys.executable, "-c", _SNIPPET], capture_output=True, text=True,
                                       check=True).stdout)  # fmt: skip
    unwanted = {"cProfile", "pstats", "shim.profilers.advanced", "shim.profilers.pytorch"}
    assert unwanted.isdisjoint(loaded)


def test_the_lazy_names_resolve_to_the_classes() -> None:
    import shim.profilers
    from shim.profilers.advanced import AdvancedProfiler
    from shim.profilers.pytorch import PyTorchProfiler

    assert shim.profilers.AdvancedProfiler is AdvancedProfiler
    assert shim.profilers.PyTorchProfiler is PyTorchProfiler
