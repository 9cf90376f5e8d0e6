"""The consent benchmark's fixed-rate phase offers the load it says (bench/consent_check.py)."""

import itertools

import pytest

from bench.consent_check import first_turn


def test_every_connection_of_every_process_takes_an_evenly_spaced_turn() -> None:
    # 2 processes x 4 connections at 200 requests/s: each connection sends every 40 ms, and the
    # service must see one request every 5 ms, not 8 at once then nothing.
    period, procs, conns = 8 / 200, 2, 4
    turns = sorted(
        first_turn(100.0, period, seed * conns + k, procs * conns, now=99.0)
        for seed in range(procs)
        for k in range(conns)
    )
    gaps = [b - a for a, b in itertools.pairwise(turns)]
    assert gaps == pytest.approx([0.005] * 7)
    assert turns[0] == 100.0 and turns[-1] + 0.005 == pytest.approx(100.0 + period)


def test_a_connection_ready_late_joins_its_next_turn_not_a_burst_to_catch_up() -> None:
    period = 0.04
    turn = first_turn(100.0, period, slot=3, slots=8, now=100.5)
    assert turn >= 100.5
    assert turn - 100.5 < period  # the very next turn
    turns_since_start = (turn - (100.0 + period * 3 / 8)) / period  # slot 3's place in each period
    assert turns_since_start == pytest.approx(round(turns_since_start))
