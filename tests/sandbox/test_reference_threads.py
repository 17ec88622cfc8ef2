"""The reference tests are compiled in the parent, where verify_batch runs checks on several threads: CPython
3.11's AST converters share their recursion depth across threads (gh-106905), so compiling must be serial."""

from __future__ import annotations

import ast
import threading
import time

from rlvr.sandbox import _reference


def test_reference_tests_are_compiled_one_thread_at_a_time(monkeypatch):
    real_parse, guard = ast.parse, threading.Lock()
    inside = most = 0

    def slow_parse(*args, **kwargs):  # widens the window in which two threads could both be parsing
        nonlocal inside, most
        with guard:
            inside += 1
            most = max(most, inside)
        time.sleep(0.01)
        try:
            return real_parse(*args, **kwargs)
        finally:
            with guard:
                inside -= 1

    monkeypatch.setattr(_reference.ast, "parse", slow_parse)
    _reference._prepare_tests.cache_clear()
    prepared = []
    threads = [threading.Thread(target=lambda i=i: prepared.append(_reference._prepare_tests(
        f"assert f({i}) == {i}\n", "def f(x):\n    return x\n", None))) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    _reference._prepare_tests.cache_clear()
    assert len(prepared) == 6 and all(p.wanted == () for p in prepared)
    assert most == 1
