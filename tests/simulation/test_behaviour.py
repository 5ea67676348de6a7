"""Patients' behaviour as `--behaviour FILE` sets it: callers who take the callback the line offers after
ROUTING__CALLER_WAIT_SECONDS are called back by the rep (the router offers the callback like any work),
and a file naming a behaviour the simulation does not know is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulation.engine import simulate
from simulation.model import Behaviour, Params

pytestmark = pytest.mark.timeout(120)


async def test_callers_who_take_the_callback_are_called_back(tmp_path: Path) -> None:
    (tmp_path / "b.json").write_text(json.dumps({"caller_takes_callback": 1.0}))
    params = Params(
        hours=1,
        reps_by_hour={0: 1},
        calls_per_hour=30,
        patience_seconds=600,  # callers wait long enough to hear the offer of a callback
        seed=3,
        behaviour=Behaviour.load(tmp_path / "b.json"),
    )
    result = await simulate(params, routing={"wrap_up_seconds": 0, "caller_wait_seconds": 60})
    [hour] = result.hours
    assert hour.callbacks > 0
    # callers not taken within a minute left the queue for a callback; only those whose patience ran out
    # within that minute hung up (about one in ten, with a mean patience of ten minutes)
    assert hour.callbacks + hour.abandoned + hour.answered_first_ring <= hour.calls_in
    assert hour.abandoned < hour.callbacks / 3
    # the one rep spent their hour on calls and call-backs
    assert hour.occupancy_pct is not None and hour.occupancy_pct > 80


def test_an_unknown_behaviour_is_refused(tmp_path: Path) -> None:
    (tmp_path / "b.json").write_text(json.dumps({"caller_sings": 0.5}))
    with pytest.raises(ValueError, match="caller_sings"):
        Behaviour.load(tmp_path / "b.json")
    (tmp_path / "b.json").write_text(json.dumps({"caller_takes_callback": 2}))
    with pytest.raises(ValueError, match="between 0 and 1"):
        Behaviour.load(tmp_path / "b.json")
