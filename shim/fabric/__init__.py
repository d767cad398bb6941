"""The small helpers of ``lightning.fabric`` / ``lightning_fabric`` that Trainer scripts import without using Fabric.

Each name here is the object shim itself uses (``shim.fabric.utilities.seed.seed_everything`` is
``shim.seed_everything``). Under the import redirect (``shim run``, ``shim.compat.install()``), ``lightning_fabric.X``
and ``lightning.fabric.X`` resolve to ``shim.fabric.X``. ``Fabric`` itself is not part of shim: asking for it says so.
"""

__all__: list[str] = []
