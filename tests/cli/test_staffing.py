"""`cli.py staffing` as operations run it: the fewest reps, the figures they give, per hour with a profile."""

from __future__ import annotations

import json
from pathlib import Path

from domain import erlang
from tests.support.cli_in_process import run_cli
from tests.support.cli_process import env_for


def test_staffing_prints_the_fewest_reps_and_their_figures(tmp_path: Path) -> None:
    env = env_for(f"sqlite:///{tmp_path / 'unused.db'}", tmp_path)
    ran = run_cli(env, "staffing", "--calls-per-hour", "60", "--json")
    assert ran.code == 0, ran.err
    got = json.loads(ran.out)
    assert set(got) == {"reps", "calls_answered_first_ring_pct", "calls_abandoned_pct", "occupancy_pct"}
    assert got["calls_answered_first_ring_pct"] >= 90 and got["calls_abandoned_pct"] <= 5
    assert got["reps"] == erlang.fewest_reps(60, 240, 120, 90, 5).reps

    # stricter targets need more reps; the table says so in words
    stricter = json.loads(
        run_cli(env, "staffing", "--calls-per-hour", "60", "--first-ring-pct", "99", "--json").out
    )
    assert stricter["reps"] > got["reps"] and stricter["calls_answered_first_ring_pct"] >= 99
    text = run_cli(env, "staffing", "--calls-per-hour", "60").out
    assert f"{got['reps']} reps for 60 calls an hour" in text and "first ring" in text


def test_staffing_per_hour_of_the_day(tmp_path: Path) -> None:
    env = env_for(f"sqlite:///{tmp_path / 'unused.db'}", tmp_path)
    ran = run_cli(env, "staffing", "--calls-by-hour", "0:0,8:60,12:120,18:10", "--json")
    assert ran.code == 0, ran.err
    hours = {h["hour"]: h for h in json.loads(ran.out)["hours"]}
    assert len(hours) == 24 and hours[3]["reps"] == 0
    assert hours[12]["reps"] > hours[8]["reps"] > hours[20]["reps"] > 0
    table = run_cli(env, "staffing", "--calls-by-hour", "0:0,8:60,12:120,18:10")
    assert table.code == 0 and "12:00" in table.out


def test_staffing_refuses_what_it_cannot_plan(tmp_path: Path) -> None:
    env = env_for(f"sqlite:///{tmp_path / 'unused.db'}", tmp_path)
    neither = run_cli(env, "staffing")
    assert neither.code == 2 and "--calls-per-hour" in neither.err
    bad = run_cli(env, "staffing", "--calls-by-hour", "8:lots")
    assert bad.code == 2 and "--calls-by-hour" in bad.err
