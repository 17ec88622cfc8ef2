"""The structured verifier: reading one JSON value, schema, constraints, expected values, errors."""

from __future__ import annotations

import doctest

import pytest

import rlvr.verifiers.structured as structured_module
from conftest import in_thread, timed
from rlvr._errors import ConfigError
from rlvr.verifiers import get_verifier
from rlvr.verifiers.structured import StructuredVerifier, extract_json

P = pytest.param
# Checks run in worker processes, and a verifier with a schema option is unhashable, so each
# instance starts its own: tests share this one where they can.
ANY_JSON = StructuredVerifier(schema={})

INVOICE_SCHEMA = {
    "type": "object",
    "required": ["customer", "items", "total"],
    "properties": {
        "customer": {"type": "string", "minLength": 1},
        "email": {"type": "string", "format": "email"},
        "items": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["sku", "qty", "price"],
                "properties": {
                    "sku": {"type": "string"},
                    "qty": {"type": "integer", "minimum": 1},
                    "price": {"type": "number"},
                },
                "additionalProperties": False,
            },
        },
        "total": {"type": "number"},
    },
}
INVOICE = {
    "schema": INVOICE_SCHEMA,
    "constraints": [
        {"sum": ["items[*].price"], "equals": "total", "tolerance": 0.01},
        {"range": "items[*].qty", "min": 1, "max": 100},
    ],
    "expected": {"customer": "ACME", "items[*].sku": ["A1", "B2"]},
}
GOOD = '{"customer": "ACME", "items": [{"sku": "A1", "qty": 2, "price": 19.99}, ' \
       '{"sku": "B2", "qty": 1, "price": 5.01}], "total": 25.0}'

INVOICE_CASES = [
    # -- where the JSON is --------------------------------------------------------------------
    P(GOOD, 1.0, "ok", id="bare-json"),
    P(f"Here is the invoice:\n```json\n{GOOD}\n```\nLet me know if anything is off.", 1.0, "ok", id="fenced"),
    P(f"```JSON\n{GOOD}\n```", 1.0, "ok", id="fenced-upper"),
    P(f"Sure! The extracted invoice is {GOOD}. Totals checked.", 1.0, "ok", id="embedded"),
    P(f"Notes [see below]: {GOOD}", 1.0, "ok", id="non-json-brackets-ignored"),
    P(f"```json\n{GOOD}\n```\n```json\n{GOOD}\n```", 0.0, "ambiguous", id="two-fences"),
    P(f"First try: {GOOD}\nCorrected: {GOOD}", 0.0, "ambiguous", id="two-objects"),
    P(f"See [1]. {GOOD}", 0.0, "ambiguous", id="citation-is-json-too"),
    P(f"```json\n{GOOD}", 0.0, "parse_error", id="unclosed-fence"),
    P("```json\n\n```", 0.0, "no_answer", id="empty-fence"),
    P("I could not find an invoice in the document.", 0.0, "no_answer", id="prose"),
    # -- strict JSON ---------------------------------------------------------------------------
    P(GOOD.replace('"ACME"', "'ACME'"), 0.0, "parse_error", id="single-quotes"),
    P(GOOD.replace("}], ", "},], "), 0.0, "parse_error", id="trailing-comma"),
    P(GOOD.replace("25.0", "NaN"), 0.0, "parse_error", id="nan"),
    P(GOOD.replace("25.0", "Infinity"), 0.0, "parse_error", id="infinity"),
    P(GOOD.replace("25.0", "1e400"), 0.0, "parse_error", id="overflow"),
    P(GOOD.replace('"total"', '"customer": "X", "total"'), 0.0, "parse_error", id="duplicate-key"),
    P(GOOD[:-1], 0.0, "parse_error", id="truncated"),
    # -- schema --------------------------------------------------------------------------------
    P(GOOD.replace('"qty": 2', '"qty": 2.5'), 0.0, "schema_error", id="qty-not-integer"),
    P(GOOD.replace('"customer": "ACME", ', ""), 0.0, "schema_error", id="missing-required"),
    P(GOOD.replace('"qty": 1,', '"qty": 1, "note": "x",'), 0.0, "schema_error", id="extra-property"),
    P(GOOD.replace('"total"', '"email": "not-an-email", "total"'), 0.0, "schema_error", id="format-email"),
    P(f"[{GOOD}]", 0.0, "schema_error", id="wrapped-in-list"),
    # -- constraints ---------------------------------------------------------------------------
    P(GOOD.replace("25.0", "25.009"), 1.0, "ok", id="sum-within-tolerance"),
    P(GOOD.replace("25.0", "26.0"), 0.0, "constraint_failed", id="sum-off"),
    P(GOOD.replace('"qty": 2', '"qty": 101'), 0.0, "constraint_failed", id="qty-over-range"),
    # -- expected values -----------------------------------------------------------------------
    P(GOOD.replace('"ACME"', '"Acme"'), 0.0, "mismatch", id="expected-customer"),
    P(GOOD.replace('"B2"', '"B3"'), 0.0, "mismatch", id="expected-wildcard"),
]


@pytest.fixture(scope="module")
def verifier():
    return get_verifier("structured")


@pytest.mark.parametrize(("completion", "reward", "reason"), INVOICE_CASES)
def test_invoice_table(verifier, completion, reward, reason):
    verdict = verifier.verify(completion, INVOICE)
    assert (verdict.reward, verdict.reason) == (reward, reason), verdict.detail


@pytest.mark.parametrize(
    ("completion", "detail"),
    [
        (GOOD.replace("25.0", "26.0"), "sum of items[*].price is 25, total is 26 (tolerance 0.01)"),
        (GOOD.replace('"qty": 2', '"qty": 101'), "items[*].qty is 101, outside [1, 100]"),
        (GOOD.replace('"qty": 2', '"qty": 2.5'), "at $.items[0].qty: 2.5 is not of type 'integer'"),
        (GOOD.replace('"ACME"', '"Acme"'), 'customer is "Acme", expected "ACME"'),
        (GOOD.replace('"B2"', '"B3"'), 'items[*].sku is ["A1", "B3"], expected ["A1", "B2"]'),
    ],
)
def test_detail_names_the_first_violation(verifier, completion, detail):
    assert verifier.verify(completion, INVOICE).detail == detail


@pytest.mark.parametrize(
    ("constraint", "document", "holds"),
    [
        P({"sum": "a[*]", "equals": 6}, {"a": [1, 2, 3]}, True, id="sum-to-number"),
        P({"sum": ["a", "b.c"], "equals": "t"}, {"a": 1, "b": {"c": 2}, "t": 3}, True, id="sum-several-paths"),
        P({"sum": "a[*]", "equals": 0}, {"a": []}, True, id="sum-empty"),
        P({"sum": "a[*]", "equals": 0.3}, {"a": [0.1, 0.2]}, True, id="sum-float-rounding"),
        P({"sum": "a[*]", "equals": 3}, {"a": [1, "2"]}, False, id="sum-string-term"),
        P({"sum": "a[*]", "equals": 1}, {"a": [True]}, False, id="sum-bool-is-not-number"),
        P({"sum": "a[*]", "equals": "t[*]"}, {"a": [1], "t": [1, 1]}, False, id="sum-target-not-single"),
        P({"range": "age", "min": 0, "max": 150}, {"age": 150}, True, id="range-inclusive"),
        P({"range": "age", "min": 0}, {"age": -1}, False, id="range-min-only"),
        P({"range": "age", "max": 150}, {"age": "old"}, False, id="range-not-number"),
        P({"range": "age", "min": 0}, {"name": "x"}, False, id="range-path-missing"),
        P({"equals_path": "a.b", "value": 3}, {"a": {"b": 3.0}}, True, id="equals-int-float"),
        P({"equals_path": "a.b", "value": 1}, {"a": {"b": True}}, False, id="equals-bool-not-int"),
        P({"equals_path": "a.b", "value": "1"}, {"a": {"b": 1}}, False, id="equals-str-not-int"),
        P({"equals_path": "a[1].c", "value": None}, {"a": [{}, {"c": None}]}, True, id="equals-null-index"),
        P({"equals_path": "a[2]", "value": 1}, {"a": [1, 1]}, False, id="equals-index-out-of-range"),
        P({"equals_path": "a[*].ok", "value": True}, {"a": [{"ok": True}, {"ok": True}]}, True,
          id="equals-every-item"),
        P({"equals_path": "[0].id", "value": 7}, [{"id": 7}], True, id="top-level-list"),
        P({"equals_path": "a.b", "value": {"x": [1]}}, {"a": {"b": {"x": [1]}}}, True, id="equals-structure"),
        P({"equals_path": "a.0", "value": 1}, {"a": {"0": 1}}, True, id="dot-digit-is-a-key"),
        P({"equals_path": "a.0", "value": 1}, {"a": [1]}, False, id="dot-digit-not-an-index"),
    ],
)
def test_constraints(constraint, document, holds):
    import json

    verdict = ANY_JSON.verify(json.dumps(document), {"constraints": [constraint]})
    assert verdict.passed is holds, verdict.detail
    assert verdict.reason == ("ok" if holds else "constraint_failed")


def test_options_and_reference_add_up():
    verifier = StructuredVerifier(
        schema={"type": "object", "required": ["id"]},
        constraints=[{"range": "id", "min": 1}],
    )
    assert verifier.verify('{"id": 3}', None).passed  # options alone are enough
    reference = {"schema": {"required": ["name"]}, "constraints": [{"range": "id", "max": 2}]}
    assert verifier.verify('{"id": 2, "name": "x"}', reference).passed
    assert verifier.verify('{"name": "x"}', reference).reason == "schema_error"  # the option's schema
    assert verifier.verify('{"id": 3, "name": "x"}', reference).reason == "constraint_failed"  # the reference's
    assert verifier.verify('{"id": 0, "name": "x"}', reference).reason == "constraint_failed"  # the option's


@pytest.mark.parametrize(
    ("reference", "said"),
    [
        (None, "no schema"),
        ({"constraints": []}, "no schema"),
        ("{}", "reference must be a mapping"),
        ({"schema": {}, "constraint": []}, "unknown key 'constraint'"),
        ({"schema": {"type": "strin"}}, "not a valid JSON Schema"),
        ({"schema": "object"}, "must be a JSON Schema object"),
        ({"schema": {"$ref": "https://example.com/invoice.json"}}, "cannot be resolved"),
        ({"schema": {"properties": {"a": {"$ref": "https://example.com/a.json"}}}}, "cannot be resolved"),
        ({"schema": {}, "constraints": [{"sum": "a", "equals": "b", "tol": 1}]}, "unknown key 'tol'"),
        ({"schema": {}, "constraints": [{"range": "a"}]}, "needs 'min' and/or 'max'"),
        ({"schema": {}, "constraints": [{"range": "a", "min": 5, "max": 1}]}, "min <= max"),
        ({"schema": {}, "constraints": [{"range": "a..b", "min": 1}]}, "is not a path"),
        ({"schema": {}, "constraints": [{"equals_path": "a"}]}, "needs a 'value'"),
        ({"schema": {}, "constraints": [{"sum": "a", "equals": "b", "tolerance": -1}]}, "'tolerance' must be >= 0"),
        ({"schema": {}, "constraints": [{"sum": "a", "equals": float("nan")}]}, "finite number"),
        ({"schema": {}, "constraints": [{"range": "a", "equals_path": "a", "min": 1}]}, "exactly one of"),
        ({"schema": {}, "constraints": {"range": "a"}}, "must be a list"),
        ({"schema": {}, "expected": ["a"]}, "must map paths to values"),
        ({"schema": {}, "expected": {"items[x]": 1}}, "is not a path"),
    ],
)
def test_bad_references(reference, said):
    verdict = StructuredVerifier().verify('{"a": 1, "b": 1}', reference)
    assert (verdict.reward, verdict.reason) == (0.0, "bad_reference"), verdict.detail
    assert said in verdict.detail


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"schema": {"type": 5}}, "option schema is not a valid JSON Schema"),
        ({"schema": [1]}, "must be a JSON Schema object or a bool"),
        ({"schema": {"x": {1, 2}}}, "not plain JSON"),
        ({"constraints": [{"sum": "a[*]"}]}, "needs 'sum'"),
        ({"constraints": [{"between": "a"}]}, "exactly one of sum, range, equals_path"),
        ({"constraints": [{"range": "", "min": 0}]}, "is not a path"),
        ({"constraints": [{"range": "a", "min": True}]}, "'min' must be a finite number"),
        ({"shema": {}}, "has no option 'shema'"),
    ],
)
def test_bad_options_raise_at_construction(options, message):
    with pytest.raises(ConfigError, match=message):
        get_verifier("structured", **options)


def test_schema_true_false_and_empty():
    assert StructuredVerifier(schema=True).verify("[1, 2]", None).passed
    assert ANY_JSON.verify('"just a string"', None).passed
    assert StructuredVerifier(schema=False).verify("{}", None).reason == "schema_error"


def test_extraction_rules():
    assert extract_json('  {"a": 1}  ') == ({"a": 1}, None)
    assert extract_json("42") == (42, None)  # the whole completion is a JSON value
    assert extract_json('Result: {"s": "braces } and [ in strings"}') == ({"s": "braces } and [ in strings"}, None)
    assert extract_json('{"a": {"b": [1, {"c": 2}]}} done')[0] == {"a": {"b": [1, {"c": 2}]}}
    fenced_wins = extract_json('Draft {"a": 1}\n```json\n{"a": 2}\n```')
    assert fenced_wins == ({"a": 2}, None)
    assert extract_json('Use {x} like this: {"a": 1}')[0] == {"a": 1}  # a non-JSON span is not a candidate
    assert extract_json("{" * 100_000)[1].reason == "parse_error"  # deep nesting fails closed
    assert extract_json("[" * 100_000 + "]" * 100_000)[1].reason == "parse_error"


def test_large_numbers_and_long_text_fail_closed_quickly():
    verifier = ANY_JSON
    assert verifier.verify('{"n": ' + "9" * 10_000 + "}", None).reason == "parse_error"
    assert verifier.verify("x" * 200_000 + '{"a": 1}', None).passed


def test_default_is_isolated_and_guarded():
    verifier = ANY_JSON
    assert verifier.isolated is True  # jsonschema and the span scan cannot be bounded in-process
    assert verifier.verify(b'{"a": 1}', None).reason == "malformed_input"  # type: ignore[arg-type]
    in_process = StructuredVerifier(schema={}, isolated=False)
    assert in_process.verify('{"a": 1}', None) == verifier.verify('{"a": 1}', None)


# -- the time limit holds for a 5 MB completion ---------------------------------------------

SLOW = "[x] " * 1_250_000  # 5 MB of small bracketed spans, each tried as JSON: seconds of work
LIMIT = 1.0


def test_a_5_mb_completion_times_out():
    verifier = StructuredVerifier(schema={}, time_limit=LIMIT)
    assert verifier.verify("[1]", None).passed  # start the worker outside the timed call
    verdict, seconds = timed(lambda: verifier.verify(SLOW, None))
    assert (verdict.reward, verdict.reason) == (0.0, "timeout") and seconds < LIMIT + 1, (verdict, seconds)
    assert verifier.verify('{"a": 1}', None).passed  # the worker was replaced and works


def test_a_5_mb_completion_times_out_from_a_thread():
    verifier = StructuredVerifier(schema={"type": "array"}, time_limit=LIMIT)
    assert [v.reason for v in verifier.verify_batch([("[1]", None), ("[2]", None)], workers=2)] == ["ok", "ok"]
    pairs = [(SLOW, None), ("[3]", None), (SLOW + " ", None), ("{}", None)]
    verdicts, seconds = timed(lambda: in_thread(lambda: verifier.verify_batch(pairs, workers=2)))
    assert [v.reason for v in verdicts] == ["timeout", "ok", "timeout", "schema_error"]
    assert seconds < LIMIT + 1, seconds  # two checks at a time, each killed at the limit


def test_docstring_examples():
    assert doctest.testmod(structured_module).failed == 0
