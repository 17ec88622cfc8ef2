r"""The compose verifier: weighted parts, the correctness gate and its ordering guarantee, routing.

The guarantee under test: with a gate, a completion that fails the gated part scores strictly
below every completion that passes it, whatever the weights and the other parts' rewards.
It is shown on real completions ("0.2 format + 0.8 correct") and, with hypothesis, over
random weight vectors, gate sets and part rewards.
"""

from __future__ import annotations

import dataclasses
import doctest
import math
from dataclasses import dataclass

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import rlvr.verifiers.compose as compose_module
import rlvr.verifiers.format  # noqa: F401 - registers "format"
import rlvr.verifiers.rubric  # noqa: F401 - registers "rubric"
from rlvr._errors import ConfigError
from rlvr.verifiers import Verdict, Verifier, get_verifier, register_verifier
from rlvr.verifiers.compose import ComposeVerifier
from rlvr.verifiers.format import FormatVerifier
from rlvr.verifiers.math import MathVerifier

P = pytest.param


@register_verifier("test-echo")
@dataclass(frozen=True)
class Echo(Verifier):
    """Returns the reward its reference names: a part with any reward a test wants."""

    isolated: bool = False

    def check(self, completion, reference):
        if reference == "bad":
            return Verdict(0.0, "bad_reference", "told to")
        reward = float(reference)
        return Verdict(reward, "ok" if reward >= 1 - 1e-9 else "mismatch", f"echo {reward:g}")


MATH = MathVerifier(isolated=False)
TIDY = FormatVerifier(think=True, pattern=r"-?\d+")

# Completions for "What is 37 * 29?" (1073), by correctness and by form.
CORRECT = [
    P(r"<think>37 * 29 = 37 * 30 - 37 = 1073</think> The answer is \boxed{1073}.", id="right-tidy"),
    P(r"37 * 29 = 1073, so \boxed{1073}.", id="right-no-think"),
    P(r"<think>37*29</think> \boxed{1,073}", id="right-thousands-sep"),
    P(r"\boxed{1073.0}", id="right-decimal"),
    P(r"<think>  </think>\boxed{1073}", id="right-empty-think"),
]
WRONG = [
    P(r"<think>37 * 29 = 1072</think> The answer is \boxed{1072}.", id="wrong-tidy"),
    P(r"<think>37 * 29 = 1083</think> \boxed{1083}", id="wrong-tidy-2"),
    P(r"37 * 29 = 1072, so \boxed{1072}.", id="wrong-no-think"),
    P(r"<think>hmm</think> The answer is 1073.", id="no-box"),
    P(r"<think>37*29</think> \boxed{37 \times 29}", id="restated"),
]


def recipe(format_weight: float, correct_weight: float, gate: bool = True) -> ComposeVerifier:
    return ComposeVerifier(parts=[
        {"verifier": MATH, "weight": correct_weight, "gate": gate, "name": "correct"},
        {"verifier": TIDY, "weight": format_weight, "name": "format"},
    ])


def _values(params):
    return [p.values[0] for p in params]


@pytest.mark.parametrize(
    ("completion", "reward", "reason"),
    [
        P(CORRECT[0].values[0], 1.0, "ok", id="right-tidy"),
        P(CORRECT[1].values[0], 0.8, "parse_error", id="right-no-think"),
        P(WRONG[0].values[0], 0.8 * 0.2, "mismatch", id="wrong-tidy"),
        P(WRONG[2].values[0], 0.0, "mismatch", id="wrong-no-think"),
        P(WRONG[3].values[0], 0.0, "no_answer", id="no-box"),
        P(WRONG[4].values[0], 0.0, "unevaluated", id="restated"),  # the format pattern fails too
    ],
)
def test_recipe_rewards(completion, reward, reason):
    verdict = recipe(0.2, 0.8).verify(completion, "1073")
    assert verdict.reward == pytest.approx(reward) and verdict.reason == reason, verdict.detail


@pytest.mark.parametrize(("format_weight", "correct_weight"), [(0.2, 0.8), (0.5, 0.5), (0.8, 0.2), (0.99, 0.01)])
def test_wrong_in_perfect_format_never_beats_right_in_poor_format(format_weight, correct_weight):
    verifier = recipe(format_weight, correct_weight)
    right = [verifier.verify(c, "1073").reward for c in _values(CORRECT)]
    wrong = [verifier.verify(c, "1073").reward for c in _values(WRONG)]
    assert max(wrong) < min(right)
    assert max(wrong) > 0  # the format part still ranks wrong answers: tidy ones first


def test_without_the_gate_a_heavy_format_weight_rewards_tidy_wrong_answers():
    ungated = recipe(0.8, 0.2, gate=False)
    wrong_tidy = ungated.verify(WRONG[0].values[0], "1073").reward
    right_untidy = ungated.verify(CORRECT[1].values[0], "1073").reward
    assert (wrong_tidy, right_untidy) == (pytest.approx(0.8), pytest.approx(0.2))


@settings(max_examples=300, deadline=None)
@given(
    correct_weight=st.floats(1e-6, 1e6),
    format_weight=st.floats(1e-6, 1e6),
    right=st.sampled_from(_values(CORRECT)),
    wrong=st.sampled_from(_values(WRONG)),
    right_format=st.floats(0.0, 1.0),
    wrong_format=st.floats(0.0, 1.0),
)
def test_recipe_order_holds_for_any_weights_and_format_rewards(
    correct_weight, format_weight, right, wrong, right_format, wrong_format
):
    verifier = ComposeVerifier(parts=[
        {"verifier": MATH, "weight": correct_weight, "name": "correct"},
        {"verifier": Echo(), "weight": format_weight, "name": "format"},  # any format reward
    ], gate="correct")
    passing = verifier.verify(right, {"parts": {"correct": "1073", "format": right_format}})
    failing = verifier.verify(wrong, {"parts": {"correct": "1073", "format": wrong_format}})
    assert 0.0 <= failing.reward < passing.reward <= 1.0


# -- the general property -------------------------------------------------------------------

WEIGHT = st.one_of(st.sampled_from([1e-6, 0.2, 0.8, 1.0, 1e6]), st.floats(1e-6, 1e6))
ANY_REWARD = st.one_of(st.sampled_from([0.0, 1.0, 1 - 1e-10, 1 - 2e-9, 0.5]), st.floats(0.0, 1.0))
PASSING_REWARD = st.sampled_from([1.0, 1 - 1e-10])  # Verdict.passed counts both
FAILING_REWARD = st.one_of(st.sampled_from([0.0, 1 - 2e-9, 0.999999]), st.floats(0.0, 1 - 2e-9))


@st.composite
def gated_pairs(draw):
    """Weights, a non-empty gate set, a reward vector that passes it and one that fails it."""
    n = draw(st.integers(1, 6))
    weights = draw(st.lists(WEIGHT, min_size=n, max_size=n))
    gated = draw(st.lists(st.booleans(), min_size=n, max_size=n).filter(any))
    passing = [draw(PASSING_REWARD if g else ANY_REWARD) for g in gated]
    failing = [draw(ANY_REWARD) for _ in gated]
    culprit = draw(st.sampled_from([i for i, g in enumerate(gated) if g]))
    failing[culprit] = draw(FAILING_REWARD)
    return weights, gated, passing, failing


def _echo_compose(weights, gated):
    return ComposeVerifier(parts=[
        {"verifier": Echo(), "weight": w, "gate": g, "name": f"p{i}"} for i, (w, g) in enumerate(zip(weights, gated))
    ])


def _score(verifier, rewards):
    return verifier.verify("any completion", {"parts": {f"p{i}": r for i, r in enumerate(rewards)}})


@settings(max_examples=500, deadline=None)
@given(gated_pairs())
# A tiny gated part that just fails: its weighted mean rounds to 1.0, so only the nextafter cap
# keeps it below a pass.
@example(([1e-6, 1e6], [True, False], [1.0, 0.0], [1 - 2e-9, 1.0]))
def test_failing_the_gate_always_scores_below_passing_it(case):
    weights, gated, passing, failing = case
    verifier = _echo_compose(weights, gated)
    high, low = _score(verifier, passing), _score(verifier, failing)
    assert 0.0 <= low.reward < high.reward <= 1.0, (high.detail, low.detail)
    # The gate share as the verifier computes it (correctly rounded sums): a plain sum() can be one
    # ulp lower, which would make this check, not the verifier, wrong.
    share = math.fsum(w for w, g in zip(weights, gated) if g) / math.fsum(weights)
    assert high.reward >= share * (1 - 1e-12) and low.reward < share


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.floats(1e-6, 1e6), st.floats(0.0, 1.0)), min_size=1, max_size=6))
def test_without_a_gate_the_reward_is_the_weighted_mean(parts):
    weights, rewards = zip(*parts)
    reward = _score(_echo_compose(weights, [False] * len(weights)), rewards).reward
    assert reward == pytest.approx(sum(w * r for w, r in parts) / sum(weights), abs=1e-12)


def test_all_parts_at_full_reward_give_exactly_one():
    for weights in ([1, 1, 1], [0.1, 0.7, 0.2], [1e-6, 3, 1e6]):
        for gated in ([False] * 3, [True, False, False], [True] * 3):
            assert _score(_echo_compose(weights, gated), [1.0] * 3).reward == 1.0


# -- verdicts, references, options ----------------------------------------------------------


def test_reason_is_the_first_failing_part_gated_parts_first():
    answer_fails = ComposeVerifier(parts=[
        {"verifier": FormatVerifier(), "name": "format"},
        {"verifier": MATH, "name": "math", "gate": True},
    ])
    verdict = answer_fails.verify(r"\boxed{82 + 59}", {"parts": {"format": None, "math": "141"}})
    assert verdict.reason == "unevaluated"  # math's reason, though format passed and comes first
    assert answer_fails.verify(r"\boxed{141}", "141").reason == "ok"
    both_fail = answer_fails.verify(r"\boxed{x", {"parts": {"format": None, "math": "141"}})
    assert both_fail.reason == "parse_error"


def test_detail_lists_every_part():
    verdict = recipe(0.2, 0.8).verify(WRONG[0].values[0], "1073")
    assert verdict.detail.startswith("correct 0 mismatch (w=0.8, gate): read 1072")
    assert '; format 1 ok (w=0.2): one answer "1072"' in verdict.detail


def test_the_same_reference_goes_to_every_part_unless_routed():
    verifier = ComposeVerifier(parts=[{"verifier": Echo(), "name": "a"}, {"verifier": Echo(), "name": "b"}])
    assert verifier.verify("x", 1.0).reward == 1.0
    assert verifier.verify("x", 0.0).reward == 0.0
    assert verifier.verify("x", {"parts": {"a": 1.0, "b": 0.0}}).reward == 0.5


@pytest.mark.parametrize(
    ("reference", "said"),
    [
        ({"parts": {"a": 1.0}}, "no entry for 'b'"),
        ({"parts": {"a": 1.0, "b": 1.0, "c": 1.0}}, "'c', which is no part"),
        ({"parts": {"a": 1.0, "b": 1.0}, "note": "x"}, "exactly {'parts'"),
        ({"parts": [1.0, 1.0]}, "exactly {'parts'"),
        ({"parts": {"a": 1.0, "b": "bad"}}, "b 0 bad_reference"),
    ],
)
def test_bad_references_give_zero(reference, said):
    verifier = ComposeVerifier(parts=[{"verifier": Echo(), "name": "a"}, {"verifier": Echo(), "name": "b"}])
    verdict = verifier.verify("x", reference)
    assert (verdict.reward, verdict.reason) == (0.0, "bad_reference") and said in verdict.detail


def test_a_crashing_part_is_a_failing_part():
    verifier = ComposeVerifier(parts=[{"verifier": Echo(), "name": "a"}, {"verifier": Echo(), "name": "b"}])
    verdict = verifier.verify("x", {"parts": {"a": 1.0, "b": "not a number"}})
    assert verdict.reward == 0.5 and verdict.reason == "runtime_error" and "ValueError" in verdict.detail


def test_gate_by_name_index_or_flag():
    parts = [{"verifier": Echo(), "name": "a"}, {"verifier": Echo(), "name": "b"}]
    by_name, by_index = ComposeVerifier(parts=parts, gate="b"), ComposeVerifier(parts=parts, gate=1)
    by_flag = ComposeVerifier(parts=[parts[0], {**parts[1], "gate": True}])
    assert [p.gate for p in by_name.parts] == [p.gate for p in by_index.parts] == [p.gate for p in by_flag.parts]
    assert [p.gate for p in by_name.parts] == [False, True]


def test_default_names_and_get_verifier_specs():
    verifier = get_verifier(
        "compose",
        parts=[
            {"verifier": {"name": "math", "isolated": False}, "weight": 4, "gate": True},
            {"verifier": "format", "weight": 1},
            {"verifier": {"name": "rubric", "criteria": [{"name": "short", "weight": 1, "length": [0, 200]}]}},
        ],
    )
    assert [p.name for p in verifier.parts] == ["math", "format", "rubric"]
    assert verifier.verify(r"So \boxed{4}.", "4").reward == 1.0
    assert verifier.verify(r"So \boxed{5}.", "4").reward == pytest.approx(4 / 6 * 2 / 6)


def test_isolation_and_time_limit_follow_the_parts():
    cheap = ComposeVerifier(parts=[{"verifier": "format"}, {"verifier": {"name": "rubric", "time_limit": 2.0}}])
    assert cheap.isolated is False and cheap.time_limit == 7.0
    with_math = ComposeVerifier(parts=[{"verifier": "math"}, {"verifier": "format"}])
    assert with_math.isolated is True and with_math.time_limit == 10.0
    explicit = ComposeVerifier(parts=[{"verifier": "math"}], isolated=False, time_limit=1.5)
    assert (explicit.isolated, explicit.time_limit) == (False, 1.5)
    again = dataclasses.replace(explicit, time_limit=3.0)
    assert again.parts == explicit.parts and again.time_limit == 3.0


def test_isolated_composite_runs_as_one_check_under_one_time_limit():
    # ^(a|a)+$ backtracks exponentially on "aaa...a!"; the rubric's own limit (5 s) is longer than 2 s
    redos = {"name": "rubric", "criteria": [{"name": "redos", "weight": 1, "regex": r"^(a|a)+$"}]}
    verifier = ComposeVerifier(
        parts=[{"verifier": "math", "gate": True}, {"verifier": redos}], isolated=True, time_limit=2.0
    )
    assert verifier.verify_batch([(r"\boxed{7}", "7"), ("a" * 40 + "!", "7")]) == [
        verifier.verify(r"\boxed{7}", "7"),
        Verdict(0.0, "timeout", "check exceeded the 2 s time limit"),
    ]
    assert verifier.verify(r"\boxed{7}", "7").reward == 0.5  # math passes, the rubric's regex does not


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "needs 'parts'"),
        ({"parts": []}, "needs 'parts'"),
        ({"parts": {"verifier": "math"}}, "needs 'parts'"),
        ({"parts": ["math"]}, "part 0 must be a mapping with a 'verifier' key"),
        ({"parts": [{"verifier": "math", "wieght": 1}]}, "part 0 has unknown key 'wieght'"),
        ({"parts": [{"verifier": "math", "weight": 0}]}, "finite number > 0, got 0"),
        ({"parts": [{"verifier": "math", "weight": -2}]}, "finite number > 0"),
        ({"parts": [{"verifier": "math", "weight": float("nan")}]}, "finite number > 0"),
        ({"parts": [{"verifier": "math", "weight": "1"}]}, "finite number > 0"),
        ({"parts": [{"verifier": "math", "gate": "yes"}]}, "'gate' must be true or false"),
        ({"parts": [{"verifier": "math", "name": ""}]}, "'name' must be a non-empty string"),
        ({"parts": [{"verifier": "maths"}]}, "unknown verifier 'maths'"),
        ({"parts": [{"verifier": {"name": "math", "tolerance": -1}}]}, "tolerance must be"),
        ({"parts": [{"verifier": "math"}, {"verifier": "math"}]}, "two parts are named 'math'"),
        ({"parts": [{"verifier": "math"}], "gate": "format"}, "gate='format' names no part"),
        ({"parts": [{"verifier": "math"}], "gate": 1}, "gate=1 names no part"),
        ({"parts": [{"verifier": "math"}], "gate": True}, "gate=True names no part"),
        ({"parts": [{"verifier": "math", "weight": 1e308}, {"verifier": "format", "weight": 1e308}]}, "overflow"),
        ({"parts": [{"verifier": "math", "weight": 5e-324, "gate": True}, {"verifier": "format", "weight": 10}]},
         "gated parts' weight is too small"),
        ({"parts": [{"verifier": "math"}], "time_limit": "5"}, "time_limit must be a number"),
        ({"parts": [{"verifier": "math"}], "time_limit": 0}, "time_limit must be positive"),
        ({"parts": [{"verifier": "math"}], "isolated": 1}, "isolated must be a bool"),
        ({"parts": [{"verifier": "math"}], "gates": "math"}, "has no option 'gates'"),
    ],
)
def test_bad_options_raise_at_construction(options, message):
    with pytest.raises(ConfigError, match=message):
        get_verifier("compose", **options)


def test_docstring_examples():
    assert doctest.testmod(compose_module).failed == 0
