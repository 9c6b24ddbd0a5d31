"""The hysteresis state machine: examples, then properties over arbitrary probe histories."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raxx_console.status.hysteresis import HysteresisState, step
from raxx_console.status.probe import make_result
from raxx_console.status.surfaces import Surface

CONDITIONS = ["operational", "degraded", "down", "slow", "unknown"]


def surface(fail=3, resolve=2, severity=None):
    kwargs = {"severity": severity} if severity else {}
    return Surface(
        id="api-prod",
        name="API",
        workflow="deploy.yml",
        target_env="production",
        app="api",
        health_url="http://x/",
        fail_threshold=fail,
        resolve_threshold=resolve,
        **kwargs,
    )


def result(condition, s=None):
    return make_result(s or surface(), condition, f"test {condition}")


def run(conditions, s):
    """Feed a history; return the states after each step and the transitions."""
    state = HysteresisState()
    states, transitions = [], []
    for condition in conditions:
        state, transition = step(state, result(condition, s), s)
        states.append(state)
        transitions.append(transition)
    return states, transitions


# --- examples ------------------------------------------------------------------------------


def test_fires_on_the_nth_consecutive_failure():
    s = surface(fail=3)
    states, transitions = run(["down", "down", "down"], s)
    assert transitions == [None, None, "fire"]
    assert states[-1].firing and states[-1].severity == "P1" and states[-1].condition == "down"
    assert states[-1].status == "down"


def test_a_success_breaks_the_streak():
    _, transitions = run(["down", "down", "operational", "down", "down"], surface(fail=3))
    assert "fire" not in transitions


def test_resolves_after_m_consecutive_successes():
    s = surface(fail=2, resolve=3)
    states, transitions = run(
        ["down", "down", "operational", "operational", "down", "operational"] + ["operational"] * 3,
        s,
    )
    assert transitions == [None, "fire", None, None, None, None, None, "resolve", None]
    assert not states[-1].firing and states[-1].severity is None and states[-1].condition is None


def test_fires_with_the_severity_of_the_result_that_completed_the_streak():
    states, transitions = run(["down", "slow", "degraded"], surface(fail=3))
    assert transitions[-1] == "fire"
    assert (states[-1].severity, states[-1].condition, states[-1].status) == (
        "P2",
        "degraded",
        "degraded",
    )


def test_severity_changes_only_once_the_new_severity_holds():
    s = surface(fail=2)
    _, transitions = run(["degraded", "degraded", "down", "degraded", "down", "down"], s)
    assert transitions == [None, "fire", None, None, None, "severity_change"]


def test_de_escalation_is_a_severity_change_too():
    s = surface(fail=2)
    states, transitions = run(["down", "down", "slow", "slow"], s)
    assert transitions[-1] == "severity_change"
    assert (states[-1].severity, states[-1].condition, states[-1].status) == (
        "P3",
        "slow",
        "degraded",
    )


def test_a_condition_with_the_same_severity_moves_silently():
    s = surface(fail=2, severity={"down": "P1", "degraded": "P1", "slow": "P3"})
    states, transitions = run(["down", "down", "degraded"], s)
    assert transitions == [None, "fire", None]
    assert (states[-1].condition, states[-1].severity) == ("degraded", "P1")


def test_thresholds_of_one_act_at_once():
    s = surface(fail=1, resolve=1)
    _, transitions = run(["down", "slow", "operational", "degraded"], s)
    assert transitions == ["fire", "severity_change", "resolve", "fire"]


def test_unknown_is_neither_failure_nor_success():
    s = surface(fail=2, resolve=2)
    states, transitions = run(["down", "unknown", "down"], s)
    assert transitions == [None, None, "fire"]
    assert states[1].status == "unknown" and states[1].consecutive_failures == 1
    _, transitions = run(["down", "down", "operational", "unknown", "operational"], s)
    assert transitions[-1] == "resolve"


def test_state_round_trips_through_json():
    s = surface(fail=2)
    states, _ = run(["down", "down", "slow"], s)
    for state in [HysteresisState(), *states]:
        assert HysteresisState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


def test_from_dict_of_nothing_is_the_initial_state():
    assert HysteresisState.from_dict(None) == HysteresisState()
    assert HysteresisState.from_dict({}) == HysteresisState()


@pytest.mark.parametrize(
    "data",
    [
        {"v": 99},
        {"colour": "red"},
        {"status": "on-fire"},
        {"consecutive_failures": -1},
        {"consecutive_successes": "3"},
        {"pending_count": True},
        {"firing": "yes"},
        {"firing": True},  # firing without a severity
        {"firing": True, "severity": "P9", "condition": "down"},
        {"severity": "P1"},  # quiet with a severity
        {"pending_severity": "P7"},
        ["not", "a", "dict"],
    ],
)
def test_from_dict_refuses_corrupt_state(data):
    with pytest.raises(ValueError):
        HysteresisState.from_dict(data)


# --- properties ----------------------------------------------------------------------------

histories = st.lists(st.sampled_from(CONDITIONS), max_size=60)
thresholds = st.integers(min_value=1, max_value=5)
overrides = st.fixed_dictionaries(
    {
        "down": st.sampled_from(["P1", "P2", "P3"]),
        "degraded": st.sampled_from(["P1", "P2", "P3"]),
        "slow": st.sampled_from(["P1", "P2", "P3"]),
    }
)


def probed(history):
    """Indices and conditions of the results that count (unknown ones do not)."""
    return [(i, c) for i, c in enumerate(history) if c != "unknown"]


@settings(max_examples=300, deadline=None)
@given(history=histories, fail=thresholds, resolve=thresholds, severity=overrides)
def test_properties_of_any_history(history, fail, resolve, severity):
    s = surface(fail=fail, resolve=resolve, severity=severity)
    states, transitions = run(history, s)
    counted = probed(history)
    position = {i: n for n, (i, _) in enumerate(counted)}
    firing = False

    for i, transition in enumerate(transitions):
        state = states[i]
        if history[i] == "unknown":
            assert transition is None
        if transition is not None:
            n = position[i]
            window = [
                c for _, c in counted[max(0, n - (fail if transition != "resolve" else resolve) + 1) : n + 1]
            ]
        if transition == "fire":
            # never before N consecutive failures, and only from quiet
            assert not firing and len(window) == fail
            assert all(c != "operational" for c in window)
            firing = True
        elif transition == "resolve":
            # only after M consecutive successes, and only while firing
            assert firing and len(window) == resolve
            assert all(c == "operational" for c in window)
            firing = False
        elif transition == "severity_change":
            # only while firing, to a severity the last N results all had
            assert firing and len(window) == fail
            assert {s.severity_for(c) for c in window if c != "operational"} == {state.severity}
            assert all(c != "operational" for c in window)
            assert states[i - 1].severity != state.severity
        # the state agrees with the transitions so far
        assert state.firing == firing
        assert (state.severity is not None) == firing == (state.condition is not None)
        if firing:
            assert state.severity == s.severity_for(state.condition)
        # the counters are the trailing runs of probed results
        upto = [c for _, c in counted if _ <= i]
        trailing_fail = len(upto) - len("".join("F" if c != "operational" else "S" for c in upto).rstrip("F"))
        trailing_ok = len(upto) - len("".join("F" if c != "operational" else "S" for c in upto).rstrip("S"))
        assert state.consecutive_failures == trailing_fail
        assert state.consecutive_successes == trailing_ok
        # persisted and reloaded, nothing changes
        assert HysteresisState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


@settings(max_examples=200, deadline=None)
@given(
    length=st.integers(min_value=0, max_value=80),
    fail=st.integers(min_value=2, max_value=5),
    bad=st.sampled_from(["down", "degraded", "slow"]),
    start_ok=st.booleans(),
)
def test_alternating_results_never_fire(length, fail, bad, start_ok):
    pair = ["operational", bad] if start_ok else [bad, "operational"]
    history = (pair * length)[:length]
    _, transitions = run(history, surface(fail=fail))
    assert not any(transitions)


@settings(max_examples=200, deadline=None)
@given(
    fail=thresholds,
    resolve=st.integers(min_value=2, max_value=5),
    noise=st.lists(st.sampled_from(CONDITIONS), max_size=40),
)
def test_after_fire_resolve_needs_m_consecutive_successes(fail, resolve, noise):
    s = surface(fail=fail, resolve=resolve)
    history = ["down"] * fail
    # up to M-1 successes between failures never resolve
    for condition in noise:
        history.append(condition)
    states, transitions = run(history, s)
    assert transitions[fail - 1] == "fire"
    streak = 0
    for i in range(fail, len(history)):
        if history[i] == "operational":
            streak += 1
        elif history[i] != "unknown":
            streak = 0
        if transitions[i] == "resolve":
            assert streak == resolve
            break
        assert streak < resolve or transitions[i] == "resolve"
        assert states[i].firing


@settings(max_examples=100, deadline=None)
@given(history=histories, fail=thresholds, resolve=thresholds)
def test_step_is_deterministic_and_pure(history, fail, resolve):
    s = surface(fail=fail, resolve=resolve)
    assert run(history, s) == run(history, s)
