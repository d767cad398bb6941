"""The ``shim`` command: ``shim --version`` now; ``shim run script.py`` arrives with the drop-in runner."""

import argparse
import sys

from shim.__about__ import __version__


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``shim`` console script."""
    parser = argparse.ArgumentParser(prog="shim", description="A drop-in replacement for the Lightning Trainer.")
    parser.add_argument("--version", action="version", version=f"shim {__version__}")
    parser.parse_args(sys.argv[1:] if argv is None else argv)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
