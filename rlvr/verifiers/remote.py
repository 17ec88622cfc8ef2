"""The `remote` verifier: a check that lives behind an HTTP endpoint or in a Python function.

    >>> v = get_verifier("remote", url="http://127.0.0.1:8000/verify")   # doctest: +SKIP
    >>> v.verify("42", {"answer": 42})                                    # doctest: +SKIP
    Verdict(reward=1.0, reason='ok', detail='')

With `url`, each check POSTs `{"completion": ..., "reference": ...}` as JSON and expects
`{"reward": float in [0, 1], "reason"?: str, "detail"?: str}` back (stdlib urllib, no
dependency). With `target` ("package.module:function"), the function takes
(completion, reference) and returns the same mapping, a number or a Verdict.

Around the call, in the calling process:
- an LRU cache of answers, keyed by (completion, reference as sorted JSON); failures are
  never cached, so an outage costs no lasting rewards;
- a blocking rate limiter, `rate_per_s` calls a second (a token bucket holding one token);
- a circuit breaker: after `breaker_failures` consecutive failures it opens, and checks
  fail at once with "breaker_open" instead of piling onto a sick service; `breaker_reset_s`
  later one trial call goes through (half-open), and its success closes the breaker.
`stats()` reports the counts, so a run's metrics can show that the breaker is open.

Every failure fails closed with reward 0.0 and a reason: "timeout" (no answer within
`timeout` seconds, the whole exchange), "http_error" (connection refused, HTTP 4xx/5xx),
"bad_response" (not JSON, not an object, a reward that is not a number in [0, 1]),
"runtime_error" (the target raised), "breaker_open"; and "bad_reference" for a reference
that cannot be sent as JSON (not the service's fault: the breaker does not count it).
"""

from __future__ import annotations

import dataclasses
import functools
import http.client
import json
import math
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

from rlvr._errors import ConfigError
from rlvr.verifiers._plugins import check_allowed_url, import_target, is_address
from rlvr.verifiers.base import Verifier, load_target, register_verifier
from rlvr.verifiers.verdict import Verdict

__all__ = ["RemoteVerifier"]

_MAX_BODY = 1 << 20  # bytes of response read; a verdict is a few hundred
_MAX_DETAIL = 1000


@register_verifier("remote")
@dataclass(frozen=True)
class RemoteVerifier(Verifier):
    """Judge a completion by asking an HTTP endpoint or calling a function, failing closed.

    url:              POST JSON here; exactly one of url and target. Its origin must be allowed
                      (`allow_plugins("https://host")`, --allow-plugin): the endpoint decides the rewards.
    target:           "package.module:function" to call instead of an endpoint; its module must be
                      allowed (`allow_plugins`, --allow-plugin) like any verifier path.
    timeout:          seconds for one whole call (connect, send, answer).
    cache_size:       answers kept (LRU); 0 turns the cache off.
    rate_per_s:       most calls a second, waiting as needed; None for no limit.
    breaker_failures: consecutive failures that open the circuit breaker.
    breaker_reset_s:  seconds the breaker stays open before one trial call.
    isolated:         run checks in worker processes; each worker then has its own cache,
                      limiter and breaker, and `stats()` in this process stays empty. The
                      worker's `time_limit` must then exceed `timeout`.
    """

    url: str | None = None
    target: str | None = None
    timeout: float = 10.0
    cache_size: int = 10_000
    rate_per_s: float | None = None
    breaker_failures: int = 5
    breaker_reset_s: float = 30.0
    isolated: bool = False
    time_limit: float = 30.0

    def __post_init__(self) -> None:
        super().__post_init__()
        _validate(self)
        object.__setattr__(self, "_state", _State(self))  # not a field: no part of eq, hash, repr

    # The state (locks, cache) does not pickle and must not travel: a copy starts fresh.
    def __getstate__(self) -> dict:
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}

    def __setstate__(self, state: dict) -> None:
        for key, value in state.items():
            object.__setattr__(self, key, value)
        object.__setattr__(self, "_state", _State(self))

    def check(self, completion: str, reference: Any) -> Verdict:
        state: _State = self._state  # type: ignore[attr-defined]
        try:
            reference_json = json.dumps(reference, sort_keys=True)
        except (TypeError, ValueError) as exc:
            if self.url is not None:
                return Verdict(0.0, "bad_reference", f"the reference cannot be sent as JSON: {exc}")
            reference_json = None  # a function takes any object; such pairs are just not cached
        key = None if reference_json is None else (completion, reference_json)
        cached = state.cache.get(key)
        if cached is not None:
            state.count("cache_hits")
            return cached
        if not state.breaker.allow():
            state.count("rejected_while_open")
            return Verdict(0.0, "breaker_open", f"the endpoint failed {self.breaker_failures} times in a row; "
                           f"checks fail closed until a trial call succeeds (every {self.breaker_reset_s:g} s)")
        if state.limiter is not None:
            state.limiter.acquire()
        state.count("calls")
        verdict, failed = self._call(completion, reference)
        state.breaker.record(success=not failed)
        if failed:
            state.count("failures")
        else:
            state.cache.put(key, verdict)
        return verdict

    def stats(self) -> dict[str, int | bool]:
        """Counts since this instance was made: calls, cache_hits, failures,
        rejected_while_open, and breaker_open (True while open or half-open)."""
        state: _State = self._state  # type: ignore[attr-defined]
        return {**state.snapshot(), "breaker_open": state.breaker.is_open}

    # -- one call -----------------------------------------------------------------------
    def _call(self, completion: str, reference: Any) -> tuple[Verdict, bool]:
        """(verdict, whether the call failed). Failures are the service's, not the answer's."""
        if self.url is not None:
            payload = json.dumps({"completion": completion, "reference": reference}).encode("utf-8")
            call = functools.partial(_post_json, self.url, payload, self.timeout)
        else:
            call = functools.partial(_call_target, self.target, completion, reference)
        try:
            answer = _within(call, self.timeout)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a reason, and counts
            return _failure(exc, self.url, self.timeout), True
        verdict = _read_answer(answer)
        return verdict, verdict.reason == "bad_response"


class _BadResponse(Exception):
    """The endpoint answered, but not with JSON."""


def _failure(exc: Exception, url: str | None, timeout: float) -> Verdict:
    """The Verdict for a call that raised: timeout, bad_response, http_error or runtime_error."""
    if isinstance(exc, TimeoutError) or (
        isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, TimeoutError)
    ):
        return Verdict(0.0, "timeout", f"no answer within {timeout:g} s")
    if isinstance(exc, _BadResponse):
        return Verdict(0.0, "bad_response", str(exc))
    if url is not None and isinstance(exc, urllib.error.HTTPError):
        return Verdict(0.0, "http_error", f"HTTP {exc.code} {exc.reason} from {url}")
    if url is not None and isinstance(exc, urllib.error.URLError):
        return Verdict(0.0, "http_error", f"cannot reach {url}: {exc.reason}")
    if url is not None and isinstance(exc, (OSError, http.client.HTTPException)):  # e.g. connection reset
        return Verdict(0.0, "http_error", f"{type(exc).__name__} from {url}: {exc}"[:_MAX_DETAIL])
    return Verdict(0.0, "runtime_error", f"{type(exc).__name__}: {exc}"[:_MAX_DETAIL])


def _validate(v: RemoteVerifier) -> None:
    if (v.url is None) == (v.target is None):
        raise ConfigError("verifier 'remote': give exactly one of url= (an HTTP endpoint) or target= "
                          "('package.module:function').")
    if v.url is not None and not is_address(v.url):
        raise ConfigError(f"verifier 'remote': url must start with http:// or https://, got {v.url!r}.")
    if v.url is not None:  # the endpoint decides the rewards: a data file names one only with the user's opt-in
        check_allowed_url(v.url)
    if v.target is not None and not callable(load_target(v.target)):
        raise ConfigError(f"verifier 'remote': target '{v.target}' is not callable.")
    if not v.timeout > 0:
        raise ConfigError(f"verifier 'remote': timeout must be positive, got {v.timeout}.")
    if v.isolated and v.time_limit <= v.timeout:
        raise ConfigError(f"verifier 'remote': time_limit ({v.time_limit:g} s) must exceed timeout "
                          f"({v.timeout:g} s) when isolated; raise time_limit.")
    if not _is_int(v.cache_size) or v.cache_size < 0:
        raise ConfigError(f"verifier 'remote': cache_size must be an integer >= 0, got {v.cache_size!r}.")
    if v.rate_per_s is not None and not (isinstance(v.rate_per_s, (int, float)) and v.rate_per_s > 0):
        raise ConfigError(f"verifier 'remote': rate_per_s must be positive or None, got {v.rate_per_s!r}.")
    if not _is_int(v.breaker_failures) or v.breaker_failures < 1:
        raise ConfigError(f"verifier 'remote': breaker_failures must be an integer >= 1, got {v.breaker_failures!r}.")
    if not (isinstance(v.breaker_reset_s, (int, float)) and v.breaker_reset_s >= 0):
        raise ConfigError(f"verifier 'remote': breaker_reset_s must be >= 0, got {v.breaker_reset_s!r}.")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _post_json(url: str, payload: bytes, timeout: float) -> Any:
    request = urllib.request.Request(
        url, data=payload, method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read(_MAX_BODY + 1)
    if len(body) > _MAX_BODY:
        raise _BadResponse(f"the response is larger than {_MAX_BODY} bytes")
    try:
        return json.loads(body)
    except ValueError:
        raise _BadResponse(f"the response is not JSON: {body[:200]!r}") from None


def _call_target(target: str, completion: str, reference: Any) -> Any:
    return import_target(target)(completion, reference)  # allowed when built; imported once, then from sys.modules


def _within(call: Callable[[], Any], timeout: float) -> Any:
    """call() with a deadline on the whole call, not per socket read as urllib's timeout is.

    A call that overruns is abandoned in its daemon thread (urllib's own timeout ends it
    later; a hung target function keeps its thread).
    """
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except Exception as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="rlvr-remote-call", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"no answer within {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def _read_answer(answer: Any) -> Verdict:
    """Turn an answer (mapping, number or Verdict) into a Verdict; "bad_response" if malformed."""
    if isinstance(answer, Verdict):
        answer = dataclasses.asdict(answer)
    elif isinstance(answer, (int, float)):
        answer = {"reward": answer}
    if not isinstance(answer, dict):
        return Verdict(0.0, "bad_response", f"expected an object with 'reward', got {type(answer).__name__}")
    reward = answer.get("reward")
    if not isinstance(reward, (int, float)) or not math.isfinite(reward) or not 0.0 <= reward <= 1.0:
        return Verdict(0.0, "bad_response", f"reward must be a number in [0, 1], got {reward!r}"[:_MAX_DETAIL])
    reason = answer.get("reason", "ok" if reward >= 1.0 - 1e-9 else "mismatch")
    detail = answer.get("detail", "")
    if not isinstance(reason, str) or not reason or not isinstance(detail, str):
        return Verdict(0.0, "bad_response", "reason must be a non-empty string and detail a string")
    return Verdict(float(reward), reason, detail[:_MAX_DETAIL])


# ------------------------------------------------------------------------------------------
# Per-instance state: cache, rate limiter, circuit breaker, counts. Thread-safe, since
# verify_batch may run checks on several threads.


class _State:
    def __init__(self, v: RemoteVerifier) -> None:
        self.cache = _LruCache(v.cache_size)
        self.limiter = _RateLimiter(v.rate_per_s) if v.rate_per_s else None
        self.breaker = _Breaker(v.breaker_failures, v.breaker_reset_s)
        self._counts = dict.fromkeys(("calls", "cache_hits", "failures", "rejected_while_open"), 0)
        self._lock = threading.Lock()

    def count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


class _LruCache:
    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str], Verdict] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str] | None) -> Verdict | None:
        with self._lock:
            if key is None or key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: tuple[str, str] | None, verdict: Verdict) -> None:
        if key is None or self.size == 0:
            return
        with self._lock:
            self._items[key] = verdict
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


class _RateLimiter:
    """A token bucket of one token refilled every 1/rate s: calls start at least that far apart."""

    def __init__(self, rate_per_s: float) -> None:
        self.interval = 1.0 / rate_per_s
        self._next = 0.0  # monotonic time of the next free slot
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:  # reserve a slot, then wait outside the lock
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


class _Breaker:
    """Closed -> open after `limit` consecutive failures -> half-open (one trial) after `reset_s`."""

    def __init__(self, limit: int, reset_s: float) -> None:
        self.limit, self.reset_s = limit, reset_s
        self._failures = 0
        self._opened_at: float | None = None
        self._trial = False  # a half-open trial call is in flight
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._opened_at is not None

    def allow(self) -> bool:
        """May a call go out now? While half-open, only the one trial call may."""
        with self._lock:
            if self._opened_at is None:
                return True
            if self._trial or time.monotonic() - self._opened_at < self.reset_s:
                return False
            self._trial = True
            return True

    def record(self, success: bool) -> None:
        with self._lock:
            if success:
                self._failures, self._opened_at = 0, None
            else:
                self._failures += 1
                if self._trial or self._failures >= self.limit:
                    self._opened_at = time.monotonic()
            self._trial = False
