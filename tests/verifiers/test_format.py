r"""The format verifier: form only, never correctness, on completions written the way models write.

Each row is (options, completion, expected reward, expected reason). The reference is
always a wrong one on purpose: the format reward must not depend on it.
"""

from __future__ import annotations

import doctest

import pytest

import rlvr.verifiers.format as format_module
from conftest import in_thread, timed
from rlvr._errors import ConfigError
from rlvr.verifiers import get_verifier
from rlvr.verifiers.compose import ComposeVerifier
from rlvr.verifiers.format import FormatVerifier

P = pytest.param
INT = {"pattern": r"-?\d+"}
THINK = {"think": True}

CASES = [
    # -- one answer, any content ----------------------------------------------------------------
    P({}, r"37 * 29 = 1073, so the answer is \boxed{1073}.", 1.0, "ok", id="boxed"),
    P({}, r"The answer is \boxed{\frac{1}{2}}.", 1.0, "ok", id="boxed-latex"),
    P({}, r"I am not sure, maybe \boxed{banana}.", 1.0, "ok", id="boxed-nonsense-is-still-format"),
    P({}, "37 * 29 = 1073, so the answer is 1073.", 0.0, "no_answer", id="no-box"),
    P({}, r"It is \boxed{1073} or maybe \boxed{1072}.", 0.0, "ambiguous", id="two-boxes"),
    P({}, r"SmolLM2 style: \boxed{} 1073", 0.0, "no_answer", id="empty-box"),
    P({}, r"So \boxed{1073", 0.0, "parse_error", id="unclosed-box"),
    P({"answer": "answer_tag"}, "Let me add. <answer>1073</answer>", 1.0, "ok", id="answer-tag"),
    P({"answer": "answer_tag"}, r"\boxed{1073}", 0.0, "no_answer", id="answer-tag-missing"),
    P({"answer": "bare"}, "The answer is 1073.", 1.0, "ok", id="bare"),
    P({"answer": "bare"}, "First 37*29.\nThen 1073.", 0.0, "parse_error", id="bare-multiline"),
    # -- pattern ---------------------------------------------------------------------------------
    P(INT, r"So \boxed{-12}.", 1.0, "ok", id="pattern-int"),
    P(INT, r"So \boxed{12.5}.", 0.0, "mismatch", id="pattern-decimal"),
    P(INT, r"So \boxed{x = 12}.", 0.0, "mismatch", id="pattern-needs-full-match"),
    P(INT, r"So \boxed{12 apples}.", 0.0, "mismatch", id="pattern-trailing-words"),
    # -- think block -----------------------------------------------------------------------------
    P(THINK, r"<think>37 * 29 = 1073</think> \boxed{1073}", 1.0, "ok", id="think"),
    P(THINK, "\n  <think>\nsome steps\n</think>\n\nFinal: \\boxed{7}", 1.0, "ok", id="think-whitespace"),
    P(THINK, r"\boxed{1073}", 0.0, "parse_error", id="think-missing"),
    P(THINK, r"Sure! <think>steps</think> \boxed{1073}", 0.0, "parse_error", id="think-not-first"),
    P(THINK, r"<think>steps \boxed{1073}", 0.0, "parse_error", id="think-unclosed"),
    P(THINK, r"<think>  </think> \boxed{1073}", 0.0, "parse_error", id="think-empty"),
    P(THINK, r"<think>a</think><think>b</think> \boxed{1}", 0.0, "ambiguous", id="think-twice"),
    P(THINK, r"<think>so \boxed{1072}</think> \boxed{1073}", 0.0, "ambiguous", id="think-holds-answer"),
    P(THINK, r"<think>it is 1073</think> the end", 0.0, "no_answer", id="think-no-answer-after"),
    P({**THINK, "answer": "answer_tag"}, "<think>add</think><answer>5</answer>", 1.0, "ok", id="think-tag"),
    P({**THINK, "answer": "answer_tag"}, "<think><answer>4</answer></think><answer>5</answer>", 0.0,
      "ambiguous", id="think-tag-inside"),
    P({**THINK, "answer": "bare"}, "<think>2 + 3</think>\n5", 1.0, "ok", id="think-bare"),
    P({**THINK, **INT}, r"<think>half of 25</think> \boxed{12.5}", 0.0, "mismatch", id="think-and-pattern"),
]


@pytest.mark.parametrize(("options", "completion", "reward", "reason"), CASES)
def test_format_table(options, completion, reward, reason):
    verdict = FormatVerifier(**options).verify(completion, "999")
    assert (verdict.reward, verdict.reason) == (reward, reason), verdict.detail


def test_reference_is_ignored():
    verifier = FormatVerifier()
    for reference in (None, "1073", "0", {"anything": 1}):
        assert verifier.verify(r"\boxed{1073}", reference).passed


def test_default_is_in_process_and_guarded():
    verifier = FormatVerifier()
    assert verifier.isolated is False
    assert verifier.verify(None, "1").reason == "malformed_input"  # type: ignore[arg-type]


def test_isolated_run_agrees_with_in_process():
    isolated = FormatVerifier(pattern=r"\d+", isolated=True, time_limit=30.0)
    assert [v.reason for v in isolated.verify_batch([(r"\boxed{7}", None), (r"\boxed{x}", None)])] == [
        "ok",
        "mismatch",
    ]


# -- the time limit holds in the calling process, in any thread ------------------------------

REDOS = r"(a|a)+$"  # exponential backtracking on "aaa...ab", in `re` and in `regex` alike
SLOW_ANSWER = r"\boxed{" + "a" * 40 + "b}"
LIMIT = 1.0


def test_a_catastrophic_pattern_times_out_in_process():
    verifier = FormatVerifier(pattern=REDOS, time_limit=LIMIT)
    assert verifier.isolated is False
    verdict, seconds = timed(lambda: verifier.verify(SLOW_ANSWER, None))
    assert (verdict.reward, verdict.reason) == (0.0, "timeout") and seconds < LIMIT + 1, (verdict, seconds)
    assert verifier.verify(r"\boxed{aaaa}", None).passed  # the same pattern on a short answer


def test_a_catastrophic_pattern_times_out_on_threads():
    verifier = FormatVerifier(pattern=REDOS, time_limit=LIMIT)
    pairs = [(SLOW_ANSWER, None), (r"\boxed{aa}", None), (SLOW_ANSWER + " ", None), (r"\boxed{x}", None)]
    verdicts, seconds = timed(lambda: in_thread(lambda: verifier.verify_batch(pairs, workers=2)))
    assert [v.reason for v in verdicts] == ["timeout", "ok", "timeout", "mismatch"]
    assert seconds < LIMIT + 1, seconds  # two checks at a time, each stopped at the limit
    verdict, seconds = timed(lambda: in_thread(lambda: verifier.verify(SLOW_ANSWER, None)))
    assert verdict.reason == "timeout" and seconds < LIMIT + 1, (verdict, seconds)


def test_the_classic_redos_pattern_is_no_longer_slow():
    # `re` backtracks for minutes on this one; the `regex` engine rejects it at once.
    verdict, seconds = timed(lambda: FormatVerifier(pattern=r"(a+)+$", time_limit=LIMIT).verify(SLOW_ANSWER, None))
    assert (verdict.reward, verdict.reason) == (0.0, "mismatch") and seconds < LIMIT + 1


def test_a_catastrophic_pattern_times_out_isolated_and_inside_compose():
    isolated = FormatVerifier(pattern=REDOS, time_limit=LIMIT, isolated=True)
    isolated.verify(r"\boxed{a}", None)  # start the worker outside the timed call
    verdict, seconds = timed(lambda: isolated.verify(SLOW_ANSWER, None))
    assert (verdict.reward, verdict.reason) == (0.0, "timeout") and seconds < LIMIT + 1, (verdict, seconds)
    composite = ComposeVerifier(parts=[{"verifier": {"name": "format", "pattern": REDOS, "time_limit": LIMIT}}])
    assert composite.isolated is False  # compose runs its parts in this process: format bounds itself
    verdict, seconds = timed(lambda: composite.verify(SLOW_ANSWER, None))
    assert (verdict.reward, verdict.reason) == (0.0, "timeout") and seconds < LIMIT + 1, (verdict, seconds)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"pattern": "(unclosed"}, "not a valid regex"),
        ({"pattern": 5}, "not a valid regex"),
        ({"answer": "last_number"}, "is not one of"),
        ({"think": "yes"}, "must be bool"),
        ({"patern": "x"}, "has no option 'patern'"),
    ],
)
def test_bad_options_raise_at_construction(options, message):
    with pytest.raises(ConfigError, match=message):
        get_verifier({"name": "format", **options})


def test_docstring_says_never_alone_and_examples_run():
    assert "Never train on this reward alone" in format_module.__doc__
    assert doctest.testmod(format_module).failed == 0
