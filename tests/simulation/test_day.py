"""A simulated day with more than calls: booking conflicts, check-ins and patients writing in, run through
makeright's own workflows, router and store. What operations read from it: cases resolved without a person,
the messages a resolved case cost, how long cases took, emails answered within the hour, and what changes
when nobody is on duty or every patient asks for a person."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from simulation.day import run_day, segments
from simulation.engine import simulate
from simulation.model import Behaviour, Params

pytestmark = pytest.mark.timeout(240)


async def test_a_day_of_conflicts_check_ins_and_emails() -> None:
    params = Params(
        hours=0.5,
        reps_by_hour={0: 3},
        conflicts_per_hour=24,
        checkins_per_hour=40,
        emails_per_hour=10,
        seed=7,
    )
    got = (await simulate(params)).as_json()
    assert got["cases"] >= 10, got
    # patients who chose one of the slots they were offered were rebooked by makeright alone; inquiries
    # and check-in trouble took a rep
    assert got["resolved_without_rep_pct"] is not None and 0 < got["resolved_without_rep_pct"] < 100, got
    # a rebooked case took at least the offer and its confirmation
    assert got["messages_per_resolved_case"] is not None and got["messages_per_resolved_case"] >= 2, got
    assert 0 < got["resolution_p50_seconds"] <= got["resolution_p90_seconds"], got
    # three reps with little to do answered every patient who wrote in, within the hour
    assert got["emails_in"] > 0 and got["emails_answered_within_hour_pct"] == 100.0, got
    # the reps' time went on emails and on the automatic calls of check-in trouble
    assert got["rep_occupancy_pct"] is not None and got["rep_occupancy_pct"] > 0, got
    assert got["calls_in"] == 0 and got["calls_answered_first_ring_pct"] is None


async def test_with_nobody_on_duty_no_email_is_answered() -> None:
    # no landlines: nobody answers an offer by email (which makeright acts on at once)
    params = Params(
        hours=0.5,
        reps_by_hour={0: 0},
        conflicts_per_hour=12,
        emails_per_hour=12,
        seed=3,
        behaviour=Behaviour(landline=0),
    )
    got = (await simulate(params)).as_json()
    assert got["emails_in"] > 0 and got["emails_answered_within_hour_pct"] == 0.0, got
    # the conflicts still resolved, by makeright alone; the inquiries did not
    assert got["resolved_without_rep_pct"] == 100.0, got
    assert got["rep_occupancy_pct"] is None


async def test_patients_who_all_ask_for_a_person_are_all_worked_by_reps(tmp_path: Path) -> None:
    (tmp_path / "b.json").write_text(
        json.dumps({"offer_answered": 0, "offer_asks_for_person": 1, "offer_stop": 0})
    )
    params = Params(
        hours=0.5,
        reps_by_hour={0: 3},
        conflicts_per_hour=16,
        seed=5,
        behaviour=Behaviour.load(tmp_path / "b.json"),
    )
    got = (await simulate(params)).as_json()
    # each asked for a person: the router rang a rep, who talked with the patient and resolved the case
    assert got["cases"] > 0 and got["resolution_p50_seconds"] is not None, got
    assert got["resolved_without_rep_pct"] == 0.0, got
    assert got["rep_occupancy_pct"] is not None and got["rep_occupancy_pct"] > 0, got


def test_shares_of_one_choice_cannot_add_up_to_more_than_everyone(tmp_path: Path) -> None:
    (tmp_path / "b.json").write_text(json.dumps({"checkin_all_good": 0.9, "checkin_trouble": 0.2}))
    with pytest.raises(ValueError, match="more than 1"):
        Behaviour.load(tmp_path / "b.json")
    (tmp_path / "b.json").write_text(json.dumps({"reply_mean_seconds": 0}))
    with pytest.raises(ValueError, match="seconds"):
        Behaviour.load(tmp_path / "b.json")


def test_a_long_day_is_cut_into_segments_with_their_own_reps_and_draws() -> None:
    day = Params(hours=5, reps_by_hour={0: 2, 3: 6}, calls_per_hour=30, seed=4)
    parts = segments(day, 2)
    assert [p.hours for p in parts] == [2, 2, 1]
    assert [p.reps_by_hour for p in parts] == [{0: 2, 1: 2}, {0: 2, 1: 6}, {0: 6}]
    assert [p.seed_key for p in parts] == [4, "4/1", "4/2"]  # the first is the day as one run would draw it
    assert segments(day, 0) == [day] and segments(day, 5) == [day]


async def test_a_day_of_two_segments_runs_side_by_side_and_pools_its_figures() -> None:
    day = Params(hours=2, reps_by_hour={0: 2, 1: 3}, calls_per_hour=30, emails_per_hour=6, seed=9)
    result = await asyncio.to_thread(run_day, day, None, None, 1)
    assert [(h.hour, h.reps) for h in result.hours] == [(0, 2), (1, 3)]
    got = result.as_json()
    assert got["hours"] == 2 and got["calls_in"] == sum(h.calls_in for h in result.hours) > 0
    assert got["emails_in"] == sum(h.emails_in for h in result.hours) > 0
    assert result.rep_seconds == 2 * 3600 + 3 * 3600
