"""RePaint's resampling schedule (Lugmayr et al. 2022, Section 4 "Resampling" and Algorithm 1).

Times count noise steps over the respaced schedule: state t holds x_t, t = t_T is pure noise,
t = 0 the finished image. A transition (t, t - 1) is one reverse step, which evaluates the
network once at respaced index t - 1; a transition (t, t + r) re-noises with q(x_{t+r} | x_t)
and costs no network evaluation.

The jump schedule: going down, every `jump_length` steps (the states 1, 1 + r, 1 + 2r, ... whose
jump stays within t_T) the sampler jumps back up r steps and redescends, `jump_n_sample - 1`
times, before it continues downwards. A state's jumps are spent once: redescending through a
higher jump state does not jump again. Never re-noised from t = 0 (Algorithm 1, line 9: t > 1
in the paper's one-based x_{t-1}), which is why the states are offset by one. With t_T = 250 and
r = 10 this gives 24 jump states and 250 + 24 * (j - 1) * 10 network evaluations: 2410 for
j = 10, 1210 for j = 5, 490 for j = 2, 250 for j = 1 (no resampling).
"""

from __future__ import annotations


def jump_states(t_T: int, jump_length: int) -> list[int]:
    """States t from which the schedule jumps back to t + jump_length, lowest first."""
    return list(range(1, t_T - jump_length + 1, jump_length))


def count_evaluations(t_T: int, jump_length: int, jump_n_sample: int) -> int:
    """Network evaluations per image in closed form (the reverse steps of `timetable`)."""
    _check_arguments(t_T, jump_length, jump_n_sample)
    extra = len(jump_states(t_T, jump_length)) * (jump_n_sample - 1) * jump_length
    return t_T + extra


def timetable(t_T: int, jump_length: int, jump_n_sample: int) -> list[tuple[int, int]]:
    """The transitions (t, t_next) from t_T down to 0; see the module docstring."""
    _check_arguments(t_T, jump_length, jump_n_sample)
    jumps_left = {state: jump_n_sample - 1 for state in jump_states(t_T, jump_length)}
    transitions = []
    t = t_T
    while t > 0:
        transitions.append((t, t - 1))
        t -= 1
        if jumps_left.get(t, 0) > 0:
            jumps_left[t] -= 1
            transitions.append((t, t + jump_length))
            t += jump_length
    check_timetable(transitions, t_T, jump_length, jump_n_sample)
    return transitions


def check_timetable(
    transitions: list[tuple[int, int]], t_T: int, jump_length: int, jump_n_sample: int
) -> None:
    """Raise AssertionError if a schedule breaks one of RePaint's invariants."""
    assert transitions, "empty timetable"
    assert transitions[0][0] == t_T, f"starts at {transitions[0][0]}, not t_T={t_T}"
    assert transitions[-1] == (1, 0), f"ends with {transitions[-1]}, not (1, 0)"
    for (_, t_next), (t, _) in zip(transitions, transitions[1:]):
        assert t_next == t, f"broken chain: {t_next} then {t}"
    for t, t_next in transitions:
        assert 0 <= t_next <= t_T, f"transition {(t, t_next)} leaves 0..{t_T}"
        assert t_next == t - 1 or (t_next == t + jump_length and t > 0), (t, t_next)
    steps = sum(1 for t, t_next in transitions if t_next < t)
    expected = count_evaluations(t_T, jump_length, jump_n_sample)
    assert steps == expected, f"{steps} reverse steps, expected {expected}"
    # Every state 1..t_T is denoised at least once, the last pass reaching 0.
    assert {t for t, t_next in transitions if t_next < t} == set(range(1, t_T + 1))


def _check_arguments(t_T: int, jump_length: int, jump_n_sample: int) -> None:
    if not (isinstance(t_T, int) and t_T >= 1):
        raise ValueError(f"t_T (inpaint respacing) must be an integer >= 1, got {t_T!r}")
    if not (isinstance(jump_length, int) and jump_length >= 1):
        raise ValueError(f"jump_length must be an integer >= 1, got {jump_length!r}")
    if not (isinstance(jump_n_sample, int) and jump_n_sample >= 1):
        raise ValueError(f"jump_n_sample must be an integer >= 1, got {jump_n_sample!r}")
