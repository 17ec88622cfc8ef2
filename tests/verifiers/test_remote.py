"""The remote verifier against a real HTTP server on 127.0.0.1, and against Python targets.

The server's behaviour is chosen by the completion: "slow" answers after a delay, "fail"
answers HTTP 500, "garbage" answers non-JSON, "big" answers reward 5, "list" answers a JSON
list; anything else is judged: reward 1.0 when it equals reference["answer"].
"""

from __future__ import annotations

import json
import pickle
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rlvr._errors import ConfigError
from rlvr.verifiers import Verdict, allow_plugins, get_verifier
from rlvr.verifiers.remote import RemoteVerifier


@pytest.fixture(autouse=True)
def _trust_test_modules():
    """The "module:function" paths below name this module's targets and json's, and the addresses name loopback
    ports (the test server's is allowed by `endpoint`): the tests opt in, as a user would."""
    allow_plugins(__name__, "json", "http://127.0.0.1:1", "http://127.0.0.1:9")


REF = {"answer": "42"}


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.requests.append(body)
        completion = body["completion"]
        if completion == "slow":
            time.sleep(0.6)
        if completion == "fail":
            self._send(500, b'{"error": "boom"}')
        elif completion == "garbage":
            self._send(200, b"<html>not json</html>")
        elif completion == "big":
            self._send(200, b'{"reward": 5}')
        elif completion == "list":
            self._send(200, b"[1.0]")
        else:
            right = completion == body["reference"]["answer"]
            answer = {"reward": 1.0 if right else 0.0, "reason": "ok" if right else "mismatch",
                      "detail": f"got {completion}"}
            self._send(200, json.dumps(answer).encode())

    def _send(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:  # keep test output quiet
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.lock, httpd.requests = threading.Lock(), []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def endpoint(server, monkeypatch):
    """The server's URL, with its request log emptied and any proxy bypassed for loopback."""
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with server.lock:
        server.requests.clear()
    url = f"http://127.0.0.1:{server.server_address[1]}/verify"
    allow_plugins(url)  # its origin: the user trusts this service
    return url


def _requests(server) -> int:
    with server.lock:
        return len(server.requests)


# ------------------------------------------------------------------------------------------
# Answers and failures, one row each.


@pytest.mark.parametrize(
    ("completion", "reward", "reason", "detail"),
    [
        ("42", 1.0, "ok", "got 42"),
        ("41", 0.0, "mismatch", "got 41"),
        ("fail", 0.0, "http_error", "HTTP 500"),
        ("garbage", 0.0, "bad_response", "not JSON"),
        ("big", 0.0, "bad_response", "in [0, 1]"),
        ("list", 0.0, "bad_response", "got list"),
        ("slow", 0.0, "timeout", "within 0.3 s"),
    ],
)
def test_answers_and_failures(endpoint, completion, reward, reason, detail):
    verifier = RemoteVerifier(url=endpoint, timeout=0.3)
    verdict = verifier.verify(completion, REF)
    assert (verdict.reward, verdict.reason) == (reward, reason), verdict
    assert detail in verdict.detail
    failed = reason not in {"ok", "mismatch"}
    assert verifier.stats() == {"calls": 1, "cache_hits": 0, "failures": int(failed),
                                "rejected_while_open": 0, "breaker_open": False}


def test_request_body_is_completion_and_reference(endpoint, server):
    RemoteVerifier(url=endpoint).verify("42", {"answer": "42", "unit": "cm"})
    assert server.requests == [{"completion": "42", "reference": {"answer": "42", "unit": "cm"}}]


def test_unreachable_endpoint_fails_closed(endpoint):
    closed_port = "http://127.0.0.1:9/verify"  # discard port: nothing listens there
    verdict = RemoteVerifier(url=closed_port, timeout=2.0).verify("42", REF)
    assert (verdict.reward, verdict.reason) == (0.0, "http_error")


def test_unserialisable_reference_is_not_the_services_fault(endpoint, server):
    verifier = RemoteVerifier(url=endpoint, breaker_failures=1)
    assert verifier.verify("42", {"answer": object()}).reason == "bad_reference"
    assert _requests(server) == 0 and verifier.stats()["breaker_open"] is False


# ------------------------------------------------------------------------------------------
# Cache


def test_cache_answers_repeats_without_calling(endpoint, server):
    verifier = RemoteVerifier(url=endpoint)
    first = verifier.verify("42", {"answer": "42", "b": 1})
    again = verifier.verify("42", {"b": 1, "answer": "42"})  # same reference, keys reordered
    assert first == again and first.passed
    assert _requests(server) == 1
    assert verifier.stats()["cache_hits"] == 1 and verifier.stats()["calls"] == 1


def test_cache_is_lru_and_bounded(endpoint, server):
    verifier = RemoteVerifier(url=endpoint, cache_size=2)
    for completion in ["a", "b", "a", "c", "a", "b"]:  # "b" was evicted by "c"; "a" stayed fresh
        verifier.verify(completion, REF)
    assert [r["completion"] for r in server.requests] == ["a", "b", "c", "b"]


def test_failures_are_not_cached(endpoint, server):
    verifier = RemoteVerifier(url=endpoint)
    assert [verifier.verify("fail", REF).reason for _ in range(2)] == ["http_error"] * 2
    assert _requests(server) == 2


def test_cache_off(endpoint, server):
    verifier = RemoteVerifier(url=endpoint, cache_size=0)
    verifier.verify("42", REF)
    verifier.verify("42", REF)
    assert _requests(server) == 2


# ------------------------------------------------------------------------------------------
# Circuit breaker


def test_breaker_opens_rejects_half_opens_and_closes(endpoint, server):
    verifier = RemoteVerifier(url=endpoint, breaker_failures=3, breaker_reset_s=0.3)
    assert [verifier.verify("fail", REF).reason for _ in range(3)] == ["http_error"] * 3
    assert verifier.stats()["breaker_open"] is True

    rejected = verifier.verify("42", REF)  # a good answer, but the service is presumed down
    assert (rejected.reward, rejected.reason) == (0.0, "breaker_open")
    assert _requests(server) == 3  # not called
    assert verifier.stats()["rejected_while_open"] == 1

    time.sleep(0.35)
    assert verifier.verify("42", REF).passed  # the half-open trial call succeeds...
    assert verifier.stats()["breaker_open"] is False  # ...and closes the breaker
    assert verifier.verify("41", REF).reason == "mismatch"
    assert _requests(server) == 5


def test_failed_trial_reopens_at_once(endpoint, server):
    verifier = RemoteVerifier(url=endpoint, breaker_failures=2, breaker_reset_s=0.3)
    for _ in range(2):
        verifier.verify("fail", REF)
    time.sleep(0.35)
    assert verifier.verify("fail", REF).reason == "http_error"  # the trial fails: one failure reopens
    assert verifier.verify("42", REF).reason == "breaker_open"
    assert _requests(server) == 3


def test_success_resets_the_failure_count(endpoint):
    verifier = RemoteVerifier(url=endpoint, breaker_failures=2)
    for completion in ["fail", "42", "fail", "41", "fail"]:  # a mismatch is a good call too
        verifier.verify(completion, REF)
    assert verifier.stats()["breaker_open"] is False


def test_cached_answers_are_served_while_open(endpoint):
    verifier = RemoteVerifier(url=endpoint, breaker_failures=1, breaker_reset_s=60)
    verifier.verify("42", REF)
    verifier.verify("fail", REF)
    assert verifier.verify("42", REF).passed  # from the cache, no call
    assert verifier.verify("43", REF).reason == "breaker_open"


# ------------------------------------------------------------------------------------------
# Rate limiter


def test_rate_limiter_spaces_calls(endpoint, server):
    verifier = RemoteVerifier(url=endpoint, rate_per_s=20)
    start = time.monotonic()
    for i in range(5):
        verifier.verify(str(i), REF)
    assert time.monotonic() - start >= 4 / 20 * 0.8  # 4 gaps of 50 ms, with a margin for clocks
    assert _requests(server) == 5


def test_rate_limiter_holds_across_threads(endpoint, server):
    verifier = RemoteVerifier(url=endpoint, rate_per_s=20)
    start = time.monotonic()
    verdicts = verifier.verify_batch([(str(i), REF) for i in range(6)], workers=6)
    assert time.monotonic() - start >= 5 / 20 * 0.8
    assert [v.reason for v in verdicts] == ["mismatch"] * 6 and _requests(server) == 6


def test_cache_hits_do_not_wait_for_the_limiter(endpoint):
    verifier = RemoteVerifier(url=endpoint, rate_per_s=1)
    verifier.verify("42", REF)
    start = time.monotonic()
    for _ in range(5):
        verifier.verify("42", REF)
    assert time.monotonic() - start < 0.5


# ------------------------------------------------------------------------------------------
# Callable targets


def target_judge(completion: str, reference: dict) -> dict:
    return {"reward": float(completion == reference["answer"]), "detail": "by function"}


def target_float(completion: str, reference: dict) -> float:
    return 0.5


def target_verdict(completion: str, reference: dict) -> Verdict:
    return Verdict(1.0, "ok", "a Verdict")


def target_raises(completion: str, reference: dict) -> dict:
    raise KeyError("answer")


def target_out_of_range(completion: str, reference: dict) -> float:
    return -1.0


def target_slow(completion: str, reference: dict) -> float:
    time.sleep(0.5)
    return 1.0


CALLS: list[object] = []


def target_any_reference(completion: str, reference: object) -> float:
    CALLS.append(reference)
    return 1.0


@pytest.mark.parametrize(
    ("function", "completion", "reward", "reason", "detail"),
    [
        ("target_judge", "42", 1.0, "ok", "by function"),
        ("target_judge", "41", 0.0, "mismatch", "by function"),
        ("target_float", "x", 0.5, "mismatch", ""),
        ("target_verdict", "x", 1.0, "ok", "a Verdict"),
        ("target_raises", "x", 0.0, "runtime_error", "KeyError"),
        ("target_out_of_range", "x", 0.0, "bad_response", "-1.0"),
        ("target_slow", "x", 0.0, "timeout", "0.2 s"),
    ],
)
def test_callable_target(function, completion, reward, reason, detail):
    verifier = get_verifier("remote", target=f"{__name__}:{function}", timeout=0.2)
    verdict = verifier.verify(completion, REF)
    assert (verdict.reward, verdict.reason) == (reward, reason), verdict
    assert detail in verdict.detail


def test_target_failures_open_the_breaker():
    verifier = RemoteVerifier(target=f"{__name__}:target_raises", breaker_failures=2)
    reasons = [verifier.verify(str(i), REF).reason for i in range(3)]
    assert reasons == ["runtime_error", "runtime_error", "breaker_open"]
    assert verifier.stats()["failures"] == 2


def test_target_takes_any_reference_uncached():
    CALLS.clear()
    verifier = RemoteVerifier(target=f"{__name__}:target_any_reference")
    marker = object()  # not JSON: passed through, never cached
    assert verifier.verify("x", marker).passed and verifier.verify("x", marker).passed
    assert CALLS == [marker, marker]


# ------------------------------------------------------------------------------------------
# Configuration, pickling, worker processes


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "exactly one of url"),
        ({"url": "http://127.0.0.1:1/", "target": "json:dumps"}, "exactly one of url"),
        ({"url": "ftp://example.invalid/"}, "http:// or https://"),
        ({"target": "json:no_such_function"}, "has no attribute"),
        ({"target": "json:__doc__"}, "not callable"),
        ({"url": "http://127.0.0.1:1/", "timeout": 0}, "timeout must be positive"),
        ({"url": "http://127.0.0.1:1/", "cache_size": -1}, "cache_size"),
        ({"url": "http://127.0.0.1:1/", "rate_per_s": 0}, "rate_per_s"),
        ({"url": "http://127.0.0.1:1/", "breaker_failures": 0}, "breaker_failures"),
        ({"url": "http://127.0.0.1:1/", "breaker_reset_s": -1}, "breaker_reset_s"),
        ({"url": "http://127.0.0.1:1/", "isolated": True, "time_limit": 5.0}, "must exceed timeout"),
    ],
)
def test_configuration_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        RemoteVerifier(**options)


def test_state_is_not_a_field_and_copies_start_fresh(endpoint):
    verifier = RemoteVerifier(url=endpoint, breaker_failures=1, breaker_reset_s=60)
    verifier.verify("fail", REF)
    assert verifier.stats()["breaker_open"] is True
    twin = RemoteVerifier(url=endpoint, breaker_failures=1, breaker_reset_s=60)
    assert twin == verifier and hash(twin) == hash(verifier) and "_state" not in repr(verifier)
    copy = pickle.loads(pickle.dumps(verifier))
    assert copy == verifier and copy.stats()["breaker_open"] is False and copy.stats()["calls"] == 0
    assert copy.verify("42", REF).passed


def test_isolated_checks_run_in_a_worker(endpoint, server):
    verifier = RemoteVerifier(url=endpoint, isolated=True)
    verdicts = verifier.verify_batch([("42", REF), ("41", REF)])
    assert [v.reason for v in verdicts] == ["ok", "mismatch"]
    assert _requests(server) == 2
    assert verifier.stats()["calls"] == 0  # the state lives in the worker, as documented
