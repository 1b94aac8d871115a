"""RePaint's jump schedule: the paper's network-evaluation counts and the schedule's invariants."""

import pytest

from workflow.inpaint.timetable import (
    check_timetable,
    count_evaluations,
    jump_states,
    timetable,
)


def reverse_steps(transitions):
    return sum(1 for t, t_next in transitions if t_next < t)


@pytest.mark.parametrize("jump_n_sample, expected", [(10, 2410), (5, 1210), (2, 490), (1, 250)])
def test_reference_counts(jump_n_sample, expected):
    transitions = timetable(250, 10, jump_n_sample)
    assert reverse_steps(transitions) == expected
    assert count_evaluations(250, 10, jump_n_sample) == expected


def test_small_schedule_by_hand():
    # t_T = 6, r = 2, j = 2: jump states 1 and 3 (5 + 2 > 6), each jumps once.
    assert jump_states(6, 2) == [1, 3]
    assert timetable(6, 2, 2) == [
        (6, 5), (5, 4), (4, 3), (3, 5), (5, 4), (4, 3),
        (3, 2), (2, 1), (1, 3), (3, 2), (2, 1), (1, 0),
    ]  # fmt: skip


def test_no_resampling_is_plain_descent():
    assert timetable(5, 3, 1) == [(5, 4), (4, 3), (3, 2), (2, 1), (1, 0)]


@pytest.mark.parametrize("t_T, r, j", [(50, 5, 2), (25, 10, 3), (7, 7, 4), (1, 1, 3), (33, 4, 5)])
def test_invariants(t_T, r, j):
    transitions = timetable(t_T, r, j)
    check_timetable(transitions, t_T, r, j)
    jumps = [(t, t_next) for t, t_next in transitions if t_next > t]
    assert all(t_next - t == r and t >= 1 and t_next <= t_T for t, t_next in jumps)
    assert len(jumps) == len(jump_states(t_T, r)) * (j - 1)


def test_check_rejects_a_broken_schedule():
    transitions = timetable(6, 2, 2)
    with pytest.raises(AssertionError, match=r"ends with .*not \(1, 0\)"):
        check_timetable(transitions[:-1], 6, 2, 2)  # never reaches 0
    with pytest.raises(AssertionError, match="broken chain"):
        check_timetable([(6, 5)] + transitions[2:], 6, 2, 2)
    with pytest.raises(AssertionError, match="reverse steps, expected"):
        check_timetable(timetable(6, 2, 1), 6, 2, 2)  # count differs


@pytest.mark.parametrize("args,name", [((0, 10, 1), "t_T"), ((10, 0, 2), "jump_length"),
                                       ((10, 2, 0), "jump_n_sample"), ((10.0, 2, 2), "t_T")])
def test_bad_arguments_are_named(args, name):
    with pytest.raises(ValueError, match=name):
        timetable(*args)
