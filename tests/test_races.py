"""The races of tests/races.py against the live server: real concurrent requests, on SQLite and on PostgreSQL.
Each is fired a few times: a race that the code leaves open shows up in one of them."""

from __future__ import annotations

import pytest

from tests.races import RACES


@pytest.mark.parametrize("race", RACES, ids=[race.__name__ for race in RACES])
def test_the_race_ends_with_one_outcome_and_a_clear_answer_for_the_loser(race, live_server):
    for _ in range(3):
        assert race(live_server) == []
