"""The list of Lightning suite tests shim does not pass stays honest: real node ids, one of the two reasons each."""

from tests.lightning_suite import IDS, REASONS, read_gaps, read_ids


def test_every_gap_is_a_node_of_the_suite_with_an_accepted_reason() -> None:
    gaps = read_gaps()
    ids = read_ids(IDS)
    assert gaps, "the gap list is empty or missing"
    assert sorted(node for node in gaps if node not in ids) == []
    bad = {node: reason for node, reason in gaps.items() if reason.split(":")[0] not in REASONS}
    assert bad == {}


def test_private_gaps_name_the_internal() -> None:
    for node, reason in read_gaps().items():
        if reason.startswith("private"):
            assert reason.startswith("private: "), node
            assert reason.removeprefix("private: ").strip(), node
