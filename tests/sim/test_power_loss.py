"""A power cut in the middle of a command, through the in-process transport (issue 9 item 5).

The simulator cuts the power at the N-th persistent write of the next command
(``JCardSimConnection.cut_power_at_write``): the command gets no answer, the card comes back up
with the state the cut left, and that state is what its store holds. The JUnit TearingTest cuts
at every write of every state-changing operation; this test shows the same through the host
stack, the secured session and the card store on disk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from tpmcard.errors import SimulatorError
from tpmcard.transport.jcardsim import JCardSimConnection

if TYPE_CHECKING:
    from conftest import BoundCard  # tests/conftest.py

COUNTER = 0x01000010


def test_counter_after_a_cut_at_each_write_is_old_or_new_also_on_disk(
    sim_bound_card: BoundCard,
) -> None:
    link = sim_bound_card.connection
    assert isinstance(link, JCardSimConnection)
    with sim_bound_card.connect() as session:
        session.mtpm.counter_define(COUNTER)
        value = session.mtpm.counter_increment(COUNTER)
        link.cut_power_at_write(0)
        value = session.mtpm.counter_increment(COUNTER)
        writes = link.persistent_writes()
    assert writes >= 2  # the counter and the card's high-water mark, in one transaction

    for k in range(1, writes + 1):
        session = sim_bound_card.connect()
        link.cut_power_at_write(k)
        with pytest.raises(SimulatorError) as cut:
            session.mtpm.counter_increment(COUNTER)
        assert cut.value.kind == "power_loss"
        session.close()  # the session died with the power; closing it is quiet
        with sim_bound_card.connect() as session:
            after = session.mtpm.counter_read(COUNTER)
        # A cut at any write of the increment (its commit is the last) leaves the old value.
        assert after == value, f"cut at write {k} of {writes}"

    # The store on disk holds the same: reopen the card from it (a new power-up).
    state_dir = link.state_dir
    link.close()
    sim_bound_card.connection = JCardSimConnection(state_dir, purpose="pytest power loss")
    with sim_bound_card.connect() as session:
        assert session.mtpm.counter_read(COUNTER) == value
        assert session.mtpm.counter_increment(COUNTER) == value + 1
    sim_bound_card.connection.close()
