"""The ``shim`` command: ``shim run train.py [args...]`` runs an unmodified Lightning script on shim."""

import os
import runpy
import sys
from types import TracebackType

from shim import compat
from shim.__about__ import __version__

USAGE = """\
usage: shim run SCRIPT [ARGS...]
       shim SCRIPT [ARGS...]
       shim --version

Run a PyTorch Lightning script on shim. Its `import pytorch_lightning`, `import lightning.pytorch` and
`import lightning` resolve to shim; ARGS reach the script as sys.argv[1:], as with `python SCRIPT ARGS`.
Processes the script starts inherit SHIM_COMPAT=1, which makes `import shim` install the same redirect.
"""


def _script_frames(traceback: TracebackType | None, filename: str) -> TracebackType | None:
    """The traceback from the script's first frame on, without shim's and runpy's frames above it.

    None when the script never started (a SyntaxError), which prints just the error, as Python does.
    """
    frame = traceback
    while frame is not None and frame.tb_frame.f_code.co_filename != filename:
        frame = frame.tb_next
    return frame


def run_script(script: str, args: list[str]) -> int:
    """Run ``script`` as ``__main__`` with Lightning imports resolved to shim, and return its exit code."""
    if not os.path.isfile(script) and not os.path.isfile(os.path.join(script, "__main__.py")):
        print(
            f"shim: can't open file {os.path.abspath(script)!r}: [Errno 2] No such file or directory", file=sys.stderr
        )
        return 2
    path = os.path.abspath(script)
    compat.install()
    os.environ[compat.ENV_VAR] = "1"
    sys.argv = [script, *args]
    # As `python script.py` does: the script's folder comes first on the path, so its sibling modules import.
    sys.path[0] = os.path.dirname(os.path.realpath(path))
    try:
        runpy.run_path(path, run_name="__main__")
    except Exception as error:
        # Print what `python script.py` would print: the traceback starts at the script, not in this runner.
        error = error.with_traceback(_script_frames(error.__traceback__, path))
        sys.excepthook(type(error), error, error.__traceback__)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``shim`` console script."""
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE, end="")
        return 0
    if args[0] == "--version":
        print(f"shim {__version__}")
        return 0
    if args[0] == "run":
        args = args[1:]
        if not args:
            print(USAGE, end="", file=sys.stderr)
            print("shim run: error: the script to run is missing", file=sys.stderr)
            return 2
        if args[0] in ("-h", "--help"):
            print(USAGE, end="")
            return 0
    elif args[0].startswith("-"):
        print(USAGE, end="", file=sys.stderr)
        print(f"shim: error: unknown option {args[0]!r}", file=sys.stderr)
        return 2
    return run_script(args[0], args[1:])


if __name__ == "__main__":
    sys.exit(main())
