"""The fail-closed guard, worker processes, ordering, and configuration errors."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Literal

import pytest

from rlvr._errors import ConfigError
from rlvr.verifiers import Verdict, Verifier, allow_plugins, get_verifier, register_verifier


@pytest.fixture(autouse=True)
def _trust_test_modules():
    """The "module:function" paths below name this module's checks (and modules that do not import or
    lack the attribute): the tests opt in, as a user would."""
    allow_plugins(__name__, "no_such_module_xyz", "os.path")


@register_verifier("test-scripted")
@dataclass(frozen=True)
class Scripted(Verifier):
    """Behaves as the completion says: 'raise', 'nan', 'big', 'str', 'sleep:S', 'exit', or a reward."""

    mode: Literal["plain", "strict"] = "plain"

    def check(self, completion, reference):
        if completion == "raise":
            raise ValueError("boom")
        if completion == "nan":
            return float("nan")
        if completion == "big":
            return 2.0
        if completion == "str":
            return "yes"
        if completion.startswith("sleep:"):
            time.sleep(float(completion[6:]))
            return Verdict(1.0, "ok", completion)
        if completion == "exit":
            os._exit(3)
        return Verdict(float(completion), "ok" if float(completion) == 1 else "mismatch", str(reference))


def user_check(completion: str, reference: str) -> float:
    """A user's plain check function, as `rlvr audit mypkg:fn` would receive."""
    return 1.0 if completion.strip() == reference else 0.0


@pytest.fixture(scope="module")
def scripted():
    return Scripted(time_limit=2.0)


@pytest.mark.parametrize(
    ("completion", "reward", "reason"),
    [
        ("1", 1.0, "ok"),
        ("0.5", 0.5, "mismatch"),
        ("raise", 0.0, "runtime_error"),
        ("nan", 0.0, "invalid_reward"),
        ("big", 0.0, "invalid_reward"),
        ("str", 0.0, "invalid_reward"),
        ("exit", 0.0, "runtime_error"),
        ("sleep:30", 0.0, "timeout"),
    ],
)
def test_guard_turns_every_failure_into_zero_with_a_reason(scripted, completion, reward, reason):
    verdict = scripted.verify(completion, "ref")
    assert (verdict.reward, verdict.reason) == (reward, reason)


def test_non_string_completion_is_malformed_input(scripted):
    assert scripted.verify(None, "ref").reason == "malformed_input"  # type: ignore[arg-type]


def test_worker_recovers_after_a_timeout_and_a_crash(scripted):
    assert scripted.verify("sleep:30", "r").reason == "timeout"
    assert scripted.verify("exit", "r").reason == "runtime_error"
    assert scripted.verify("1", "r").passed


def test_batch_keeps_order_with_parallel_workers(scripted):
    pairs = [(f"sleep:{0.3 if i % 2 else 0.01}", str(i)) for i in range(6)] + [("raise", "x"), ("1", "last")]
    start = time.perf_counter()
    verdicts = scripted.verify_batch(pairs, workers=2)
    assert [v.detail for v in verdicts[:6]] == [c for c, _ in pairs[:6]]
    assert verdicts[6].reason == "runtime_error" and verdicts[7].detail == "last"
    assert time.perf_counter() - start < 0.3 * 3 + 1.5  # two workers, not one after another


def test_time_limit_holds_off_the_main_thread(scripted):
    out = {}

    def run():
        start = time.perf_counter()
        out["verdict"] = scripted.verify("sleep:30", "r")
        out["seconds"] = time.perf_counter() - start

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=20)
    assert out["verdict"].reason == "timeout" and out["seconds"] < 5


def test_in_process_mode_still_guards():
    verifier = Scripted(isolated=False)
    assert verifier.verify("raise", "r").reason == "runtime_error"
    assert verifier.verify("1", "r").passed


def test_verdict_passed_and_parsed():
    assert Verdict(1.0, "ok").passed and not Verdict(0.99, "mismatch").passed
    assert Verdict(0.0, "mismatch").parsed and not Verdict(0.0, "no_answer").parsed


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: get_verifier("nope"), "unknown verifier 'nope'"),
        (lambda: get_verifier("test-scripted", tolerence=1), "has no option 'tolerence'"),
        (lambda: get_verifier("test-scripted", mode="lenient"), "mode='lenient' is not one of"),
        (lambda: get_verifier("test-scripted", time_limit=0), "time_limit must be positive"),
        (lambda: get_verifier({"mode": "plain"}), "needs a 'name' key"),
        (lambda: get_verifier("no_such_module_xyz:fn"), "cannot import verifier module"),
        (lambda: get_verifier("os.path:no_such_fn"), "has no attribute"),
        (lambda: get_verifier(lambda c, r: 1.0), "not importable"),
    ],
)
def test_configuration_errors_raise_at_construction(call, message):
    with pytest.raises(ConfigError, match=message):
        call()


def test_dict_spec_and_options():
    verifier = get_verifier({"name": "test-scripted", "mode": "strict"}, time_limit=3.0)
    assert isinstance(verifier, Scripted) and verifier.mode == "strict" and verifier.time_limit == 3.0


def test_user_function_by_path_and_by_object():
    by_path = get_verifier(f"{__name__}:user_check")
    by_object = get_verifier(user_check)
    for verifier in (by_path, by_object):
        assert verifier.verify(" 42 ", "42").passed
        assert verifier.verify("41", "42").reason == "mismatch"


def test_plugin_entry_point(monkeypatch):
    import importlib.metadata

    class FakeEntryPoint:
        name = "plugin-scripted"

        def load(self):
            return Scripted

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [FakeEntryPoint()])
    assert isinstance(get_verifier("plugin-scripted", isolated=False), Scripted)


def test_identical_pairs_are_checked_once_but_timeouts_are_retried():
    verifier = Scripted(time_limit=1.0)
    verifier.verify("1", "warm-up")  # start the worker outside the timed part
    start = time.perf_counter()
    first = verifier.verify_batch([("sleep:0.4", "a")] * 4 + [("1", "b")], workers=1)
    assert all(v.passed for v in first)
    assert time.perf_counter() - start < 1.2  # one sleep, not four
    start = time.perf_counter()
    again = verifier.verify_batch([("sleep:0.4", "a"), ("1", "b")])
    assert [v.detail for v in again] == ["sleep:0.4", "b"]
    assert time.perf_counter() - start < 0.3  # served from the cache
    assert verifier.verify("sleep:5", "c").reason == "timeout"
    start = time.perf_counter()
    assert verifier.verify("sleep:5", "c").reason == "timeout"  # not cached: checked again
    assert time.perf_counter() - start >= 0.9


def test_references_the_worker_cannot_receive_fail_closed_instead_of_raising(scripted):
    # A reference nested 5,000 deep (JSON and pickle recurse) and an unpicklable one: the check fails
    # closed with a reason; verify() does not raise, and the next check still works.
    import threading

    deep: list = []
    for _ in range(5000):
        deep = [deep]
    for reference in (deep, threading.Lock()):
        verdict = scripted.verify("1", reference)
        assert (verdict.reward, verdict.reason) == (0.0, "runtime_error")
        assert "could not send check to worker" in verdict.detail
    assert scripted.verify("1", "r").passed
