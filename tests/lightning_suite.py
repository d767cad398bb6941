"""Keep ``tests/lightning_suite_gaps.txt`` in step with a run of Lightning's own test suite against shim.

The suite run is a measurement outside CI (the peer runner writes a ``results.json``). This module reads one:

    python -m tests.lightning_suite RESULTS_JSON SELECTION_TXT [GROUPS]

writes ``tests/lightning_suite_ids.txt`` (every node id the run selected, so that our own tests can check the gap
list without the suite), and prints the tests of the first GROUPS groups (12 by default: the core groups, whose
every failure must be listed) that fail unexplained by the gap list, and the listed tests that pass.

A gap line is ``<node id>  # <reason>``, the reason being ``wording: ...`` (shim raises or warns with Lightning's
class, in its own words) or ``private: <internal>`` (the test reads or patches an underscore internal of Lightning's
layering).
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
GAPS = HERE / "lightning_suite_gaps.txt"
IDS = HERE / "lightning_suite_ids.txt"
REASONS = ("wording", "private")


def read_gaps(path: Path = GAPS) -> dict[str, str]:
    """Node id -> reason, from the gap list (comment lines start with ``#``)."""
    gaps: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        node, sep, reason = line.partition("  # ")
        if not sep:
            raise ValueError(f"{path.name}:{number}: expected '<node id>  # <reason>', got {line!r}")
        if node in gaps:
            raise ValueError(f"{path.name}:{number}: {node} is listed twice")
        gaps[node] = reason.strip()
    return gaps


def read_ids(path: Path = IDS) -> set[str]:
    return {line for line in path.read_text().splitlines() if line and not line.startswith("#")}


def selected_entries(selection: str, groups: int) -> list[str]:
    """The files and node ids of the first ``groups`` groups (``## title`` lines start one) of a selection file."""
    entries: list[str] = []
    group = 0
    for line in Path(selection).read_text().splitlines():
        if line.startswith("## "):
            group += 1
        elif line.strip() and line[0] not in "#-" and 0 < group <= groups:
            entries.append(line.split("#")[0].strip())
    return entries


def in_entries(node: str, entries: list[str]) -> bool:
    return any(node == entry or node.split("::")[0] == entry for entry in entries)


def main(results_json: str, selection: str, groups: int = 12) -> int:
    results = json.loads(Path(results_json).read_text())
    outcomes = {node: test["outcome"] for info in results["files"].values() for node, test in info["tests"].items()}
    entries = selected_entries(selection, groups)
    core = {node: outcome for node, outcome in outcomes.items() if in_entries(node, entries)}
    IDS.write_text(
        "# The node ids of the selection of Lightning's own tests (tests/tests_pytorch of tag 2.6.5) that the peer\n"
        "# runner ran; written by `python -m tests.lightning_suite RESULTS_JSON SELECTION`.\n"
        + "\n".join(sorted(outcomes))
        + "\n"
    )
    gaps = read_gaps()
    # every failure of the first `groups` groups must be listed; a later group's gaps may be listed as they are found
    unexplained = sorted(node for node, outcome in core.items() if outcome != "passed" and node not in gaps)
    passing = sorted(node for node in gaps if outcomes.get(node) == "passed")
    unknown = sorted(node for node in gaps if node not in outcomes)
    for title, nodes in (("not passing, not listed", unexplained), ("listed, but passing", passing),
                         ("listed, not in the run", unknown)):  # fmt: skip
        print(f"{title}: {len(nodes)}")
        for node in nodes:
            print(f"  {node}")
    listed_core = sum(node in core for node in gaps)
    passed_core = sum(outcome == "passed" for outcome in core.values())
    print(f"first {groups} groups: passed {passed_core} of {len(core)}, {listed_core} listed")
    print(f"all groups: passed {sum(o == 'passed' for o in outcomes.values())} of {len(outcomes)}, {len(gaps)} listed")
    return 1 if unexplained or passing or unknown else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], *map(int, sys.argv[3:4])))
