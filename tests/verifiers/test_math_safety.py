r"""Hostile answers: denial of service and code injection against the math verifier.

Every payload must come back as reward 0.0 within the verifier's time limit (plus slack
for the pipe), from a worker whose working directory is an empty sandbox that must stay
empty. The parser must stop huge values by itself, without the worker's hard limit, and
the hard limit must hold for a check that hangs, from any thread.
"""

from __future__ import annotations

import pathlib
import tempfile
import threading
import time
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlvr.verifiers import Verdict, Verifier, get_verifier
from rlvr.verifiers._mathparse import MathParseError, MathTooLarge, parse_math

TIME_LIMIT = 3.0
P = pytest.param

PAYLOADS = [
    # -- values too large to compute --------------------------------------------------------
    P(r"So the answer is \boxed{9^{9^{9^9}}}.", "too_large", id="tower-of-nines"),
    P(r"\boxed{10^{10^{10}}}", "too_large", id="googolplex-ish"),
    P(r"\boxed{2^{2^{2^{2^{2^{2}}}}}}", "too_large", id="tower-of-twos"),
    P(r"\boxed{e^{e^{e^{e^{e}}}}}", "too_large", id="tower-of-e"),
    P(r"\boxed{(10^{100})!}", "too_large", id="factorial-of-googol"),
    P(r"\boxed{99999999!}", "too_large", id="big-factorial"),
    P(r"\boxed{10000! \cdot 10000! \cdot 10000!}", "too_large", id="product-of-factorials"),
    P(r"\boxed{\sqrt{10^{9999}+1}}", "too_large", id="root-of-huge-number"),
    P(r"\boxed{(x+1)^{10^{6}}}", "too_large", id="symbolic-power"),
    P(r"\boxed{1e999999}", "too_large", id="sci-exponent"),
    P(r"\boxed{" + "1+" * 50_000 + "1}", "too_large", id="100k-characters"),
    P(r"\boxed{" + "9" * 100_000 + "}", "too_large", id="100k-digits"),
    P(r"\boxed{" + "{" * 10_000 + "1" + "}" * 10_000 + "}", "too_large", id="10k-nested-braces"),
    P(r"\boxed{" + "(" * 400 + "1" + ")" * 400 + "}", "too_large", id="400-nested-parentheses"),
    P(r"\boxed{" + r"\sqrt{" * 100 + "2" + "}" * 100 + "}", "too_large", id="100-nested-roots"),
    P(r"\boxed{" + "-" * 900 + "1}", "too_large", id="900-signs"),
    P(r"\boxed{" + "{" * 10_000, "parse_error", id="10k-unclosed-braces"),
    P(r"\boxed{1}\boxed{2}" * 5_000, "ambiguous", id="10k-boxes"),
    P("Let me think step by step. " * 4000 + r"\boxed{41}", "mismatch", id="100k-of-reasoning"),
    # -- code injection ---------------------------------------------------------------------
    P(r"\boxed{__import__('os').system('touch PWNED')}", "parse_error", id="import-os"),
    P(r"\boxed{().__class__.__bases__[0].__subclasses__()}", "parse_error", id="subclasses"),
    P(r"\boxed{exec(\"open('x','w')\")}", "parse_error", id="exec"),
    P(r"\boxed{eval(\"__import__('os').system('touch PWNED')\")}", "parse_error", id="eval"),
    P(r"\boxed{lambda: open('x', 'w').write('1')}", "parse_error", id="lambda"),
    P(r"\boxed{(lambda f: f(f))(lambda f: f(f))}", "parse_error", id="lambda-recursion"),
    P(r"\boxed{[c for c in ().__class__.__base__.__subclasses__()]}", "parse_error", id="comprehension"),
    P(r"\boxed{os.system(\"touch PWNED\")}", "parse_error", id="os-system"),
    P(r"\boxed{Symbol('x').evalf()}", "parse_error", id="sympy-attribute"),
    P(r"\boxed{\input{/etc/passwd}}", "parse_error", id="latex-input"),
    P(r"\boxed{\immediate\write18{touch PWNED}}", "parse_error", id="latex-write18"),
    P(r"\boxed{$(touch PWNED)$}", "parse_error", id="shell-substitution"),
    P(r"\boxed{1/0}", "parse_error", id="division-by-zero"),
]


@pytest.fixture(scope="module")
def sandboxed(tmp_path_factory):
    """A math verifier whose worker process was started inside an empty directory."""
    sandbox = tmp_path_factory.mktemp("math-sandbox")
    verifier = get_verifier("math", time_limit=TIME_LIMIT)  # a configuration no other test uses
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(sandbox)
        assert verifier.verify(r"\boxed{1}", 1).passed  # starts the worker here, before any timing
    return verifier, sandbox


@pytest.mark.parametrize(("completion", "reason"), PAYLOADS)
def test_hostile_answer_fails_fast_and_touches_nothing(sandboxed, tmp_path, monkeypatch, completion, reason):
    verifier, sandbox = sandboxed
    monkeypatch.chdir(tmp_path)
    temp = pathlib.Path(tempfile.gettempdir())
    before = {name: (temp / name).exists() for name in ("PWNED", "x")}  # another program may own /tmp/x
    start = time.monotonic()
    verdict = verifier.verify(completion, "42")
    elapsed = time.monotonic() - start
    assert (verdict.reward, verdict.reason) == (0.0, reason), verdict.detail
    assert elapsed < TIME_LIMIT + 2
    assert list(tmp_path.iterdir()) == [] and list(sandbox.iterdir()) == []
    assert {name: (temp / name).exists() for name in before} == before


@pytest.mark.parametrize(
    "text",
    [
        r"9^{9^{9^9}}",
        r"10^{10^{10}}",
        r"(10^{100})!",
        "99999999!",
        r"\sqrt{10^{9999}+1}",
        r"e^{10^{5}}",
        r"\exp(10^{5})",
        r"10^{9999} \cdot 10^{9999} \cdot 10^{9999} \cdot 10^{9999} \cdot 10^{9999} \cdot 10^{9999}",
    ],
)
def test_parser_stops_huge_values_by_itself(text):
    """In process, with no worker and no time limit: the size checks come before the work."""
    start = time.perf_counter()
    with pytest.raises(MathTooLarge, match="too large|only when exact"):
        parse_math(text)
    assert time.perf_counter() - start < 0.5


_PIECES = [
    "0", "1", "2", "9", "10", ".5", "3.14", "1,000", "e", "i", "x", "pi", "+", "-", "*", "/", "^", "^{",
    "{", "}", "(", ")", "[", "]", ",", "=", "!", "%", "\\%", "\\$", "\\frac", "\\frac{", "\\sqrt", "\\sqrt[",
    "\\pi", "\\infty", "\\cdot", "\\times", "\\sin", "\\log_", "\\ln", "\\exp", "\\binom", "\\text{ cm}",
    "\\text{ or }", "\\mathrm{e}", "^\\circ", "\\pm", "\\cup", "\\{", "\\}", "\\left(", "\\right)", "e3",
    "_", " ", "\\,", "**", "\u2212", "9^{9^{9}}", "x_", "\\sin^2", "99", "'", "__", ".", "\\",
    # relations, |x|, names and sums
    "|", "<", "\\le", "\\ge", "\\in", "\\neq", "f(", "f(2)", "|x|", "S_{AB}", "\\sum_{k=0}^{", "\\sum_", "\x0c",
]  # fmt: skip


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.one_of(st.lists(st.sampled_from(_PIECES), max_size=20).map("".join), st.text(max_size=60)))
def test_parser_fails_only_with_math_parse_error(text):
    start = time.perf_counter()
    try:
        parse_math(text)
    except MathParseError:
        pass
    assert time.perf_counter() - start < 1.0


# ------------------------------------------------------------------------------------------
# The hard time limit: a check that hangs is killed with its process


@dataclass(frozen=True)
class _Sleepy(Verifier):
    """Hangs on completions starting with "sleep". Module level: workers unpickle it by name."""

    def check(self, completion: str, reference: object) -> Verdict:
        if completion.startswith("sleep"):
            time.sleep(30)
        return Verdict(1.0, "ok", f"awake: {completion}")


@pytest.fixture(scope="module")
def sleepy():
    verifier = _Sleepy(time_limit=1.0)
    assert verifier.verify("wake at start", None).passed  # start the worker before timing anything
    return verifier


def _timed(verifier: Verifier, completion: str) -> tuple[Verdict, float]:
    start = time.monotonic()
    verdict = verifier.verify(completion, None)
    return verdict, time.monotonic() - start


# Each completion below is new to the verifier: the pool caches verdicts of repeated pairs.


def test_overrunning_check_is_killed(sleepy):
    verdict, elapsed = _timed(sleepy, "sleep in the main thread")
    assert (verdict.reward, verdict.reason) == (0.0, "timeout")
    assert elapsed < 3.0
    assert sleepy.verify("wake after the kill", None).passed  # a fresh worker took the killed one's place


def test_time_limit_holds_off_the_main_thread(sleepy):
    assert sleepy.verify("wake before the thread", None).passed  # the worker is up before the clock starts
    results: list[tuple[Verdict, float]] = []
    thread = threading.Thread(target=lambda: results.append(_timed(sleepy, "sleep in a thread")))
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive()
    verdict, elapsed = results[0]
    assert (verdict.reward, verdict.reason) == (0.0, "timeout")
    assert elapsed < 3.0
