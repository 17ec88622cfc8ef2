r"""The `compose` verifier: a weighted sum of other verifiers, with an optional correctness gate.

    >>> v = ComposeVerifier(parts=[
    ...     {"verifier": {"name": "math", "isolated": False}, "weight": 0.8, "gate": True},
    ...     {"verifier": {"name": "format", "think": True}, "weight": 0.2},
    ... ])
    >>> v.check(r"<think>37 * 29 = 1073</think> \boxed{1073}", "1073").reward
    1.0
    >>> v.check(r"37 * 29 = 1073, so \boxed{1073}", "1073").reward  # right, no <think>
    0.8
    >>> round(v.check(r"<think>37 * 29 = 1072</think> \boxed{1072}", "1073").reward, 6)  # wrong, tidy
    0.16

Parts. `parts` is a list of {"verifier": spec, "weight": w, "gate": bool, "name": str}:
spec is anything `get_verifier` takes; weight (default 1) is a finite number > 0; name
defaults to the spec's name ("math" for "math" or {"name": "math", ...}) and must be unique.
The option `gate` also marks one part as gated, by name or by index; it adds to the parts'
own "gate" flags.

Weights are relative: the reward is sum(w_i * r_i) / sum(w_i), so it lies in [0, 1] and is
1.0 exactly when every part gives 1.0.

The gate. Let G be the gated parts and g = sum(w_i for i in G) / sum(w_i) their share. The
gate passes when every gated part passes (reward >= 1 - 1e-9). Then

    passing:  reward = sum(w_i * (1 if i in G else r_i)) / sum(w_i)     >= g
    failing:  reward = min(g * raw, nextafter(g, 0))                   <  g

where raw is the ungated weighted mean. So a completion that fails the gate scores strictly
below every completion that passes it, for any positive weights and any part rewards. In
floats too: the passing numerator is the gated weights plus non-negative terms, and
math.fsum's correctly rounded sum and the division are monotone, so it cannot round below
g; the failing side is at most the largest float below g. (g * raw alone is not enough:
raw rounds to 1.0 when the failing gated part is tiny next to the others.) A gated
reward of 1 - 1e-10 passes, as Verdict.passed says, and counts as 1 on the passing side.
Among failing completions the order of raw is kept (scaled by g), so the shaping parts
still rank wrong answers. With "0.2 format + 0.8 correct", a wrong answer in a perfect
format scores at most 0.8 * 0.2 = 0.16, a right one in any format at least 0.8.

References. The same reference goes to every part, unless it is a mapping with the single
key "parts": then each part gets `reference["parts"][name]`, e.g.
{"parts": {"math": "42", "format": null}}; every part needs an entry (null for none) and
unknown names are rejected, so a typo cannot silently hand a part no reference.

Running. Parts run in this process, one after another, each behind `guarded_check`; the
composite is one check, and with isolated=True it runs whole inside one worker under one
time limit. By default it is isolated when any part is (math is), with a time limit equal
to the sum of the parts' limits.

Verdict. reward as above; reason "ok" when every part passes, "bad_reference" (reward 0)
when any part got a bad reference, else the reason of the first failing part, gated parts
first ("mismatch", "no_answer", ...), so format statistics still see why. The detail lists
every part: `math 0 mismatch (w=0.8, gate): ...; format 1 ok (w=0.2)`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rlvr._errors import ConfigError
from rlvr.verifiers.base import Verifier, get_verifier, register_verifier
from rlvr.verifiers.verdict import Verdict, guarded_check

__all__ = ["ComposeVerifier"]

_PART_KEYS = ("verifier", "weight", "gate", "name")


@dataclass(frozen=True)
class Part:
    """One validated part: a built verifier, its weight, and whether it gates the reward."""

    name: str
    verifier: Verifier
    weight: float
    gate: bool = False


@register_verifier("compose")
@dataclass(frozen=True)
class ComposeVerifier(Verifier):
    """A weighted sum of verifiers; failing a gated part caps the reward below every passing one.

    parts:      mappings {"verifier", "weight", "gate", "name"}; stored as a tuple of Part.
    gate:       the name (str) or index (int) of one more part to gate on, or None.
    time_limit: seconds for the whole composite; None sums the parts' limits.
    isolated:   run in a worker process; None means "if any part is isolated".
    """

    parts: tuple[Part, ...] = ()
    gate: str | int | None = None
    time_limit: float | None = None  # type: ignore[assignment]
    isolated: bool | None = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        parts = _mark_gate(_parse_parts(self.parts), self.gate)
        object.__setattr__(self, "parts", parts)
        if self.time_limit is None:
            object.__setattr__(self, "time_limit", math.fsum(p.verifier.time_limit for p in parts))
        if self.isolated is None:
            object.__setattr__(self, "isolated", any(p.verifier.isolated for p in parts))
        if isinstance(self.time_limit, bool) or not isinstance(self.time_limit, (int, float)):
            raise ConfigError(f"verifier 'compose': time_limit must be a number, got {self.time_limit!r}.")
        if not isinstance(self.isolated, bool):
            raise ConfigError(f"verifier 'compose': isolated must be a bool, got {self.isolated!r}.")
        super().__post_init__()

    def check(self, completion: str, reference: Any) -> Verdict:
        references = _route(reference, [p.name for p in self.parts])
        if isinstance(references, str):
            return Verdict(0.0, "bad_reference", references)
        verdicts = [guarded_check(p.verifier, completion, r) for p, r in zip(self.parts, references)]
        detail = "; ".join(_line(p, v) for p, v in zip(self.parts, verdicts))
        if any(v.reason == "bad_reference" for v in verdicts):
            return Verdict(0.0, "bad_reference", detail)
        gated = [p.gate for p in self.parts]
        gate_passed = all(v.passed for v, g in zip(verdicts, gated) if g)
        reward = _combine([p.weight for p in self.parts], gated, [v.reward for v in verdicts], gate_passed)
        failing = [v for p, v in sorted(zip(self.parts, verdicts), key=lambda pv: not pv[0].gate) if not v.passed]
        return Verdict(reward, failing[0].reason if failing else "ok", detail)


def _combine(weights: Sequence[float], gated: Sequence[bool], rewards: Sequence[float], gate_passed: bool) -> float:
    """The composite reward (see the module docstring for the gate and its proof).

    >>> round(_combine([0.2, 0.8], [False, True], [1.0, 0.0], False), 6)  # perfect format, wrong answer
    0.16
    >>> _combine([0.2, 0.8], [False, True], [0.0, 1.0], True)  # no format, right answer
    0.8
    """
    total = math.fsum(weights)
    raw = min(1.0, math.fsum(w * r for w, r in zip(weights, rewards)) / total)
    if not any(gated):
        return raw
    share = math.fsum(w for w, g in zip(weights, gated) if g) / total
    if gate_passed:
        return min(1.0, math.fsum(w * (1.0 if g else r) for w, g, r in zip(weights, gated, rewards)) / total)
    return min(share * raw, math.nextafter(share, 0.0))


def _line(part: Part, verdict: Verdict) -> str:
    gate = ", gate" if part.gate else ""
    said = f": {verdict.detail[:120]}" if verdict.detail else ""
    return f"{part.name} {verdict.reward:.3g} {verdict.reason} (w={part.weight:g}{gate}){said}"


# ------------------------------------------------------------------------------------------
# Parts and references


def _parse_parts(items: Any) -> tuple[Part, ...]:
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Sequence) or not items:
        raise ConfigError("verifier 'compose' needs 'parts': a non-empty list of {'verifier': ..., 'weight': ...}.")
    parts = tuple(item if isinstance(item, Part) else _part(item, i) for i, item in enumerate(items))
    names = [p.name for p in parts]
    repeated = next((n for n in names if names.count(n) > 1), None)
    if repeated is not None:
        raise ConfigError(f"verifier 'compose': two parts are named '{repeated}'; give each a distinct 'name'.")
    try:
        math.fsum(p.weight for p in parts)
    except OverflowError:
        raise ConfigError("verifier 'compose': the weights overflow when added; scale them down.") from None
    return parts


def _part(item: Any, index: int) -> Part:
    where = f"verifier 'compose': part {index}"
    if not isinstance(item, Mapping) or "verifier" not in item:
        raise ConfigError(f"{where} must be a mapping with a 'verifier' key, got {item!r}.")
    unknown = sorted(set(item) - set(_PART_KEYS))
    if unknown:
        raise ConfigError(f"{where} has unknown key '{unknown[0]}'; use {', '.join(_PART_KEYS)}.")
    spec, weight, gate = item["verifier"], item.get("weight", 1.0), item.get("gate", False)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not (math.isfinite(weight) and weight > 0):
        raise ConfigError(f"{where} needs a 'weight' that is a finite number > 0, got {weight!r}.")
    if not isinstance(gate, bool):
        raise ConfigError(f"{where}: 'gate' must be true or false, got {gate!r}.")
    verifier = get_verifier(spec)
    name = item.get("name", _default_name(spec, verifier))
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: 'name' must be a non-empty string, got {name!r}.")
    return Part(name, verifier, float(weight), gate)


def _default_name(spec: Any, verifier: Verifier) -> str:
    if isinstance(spec, str):
        return spec
    if isinstance(spec, Mapping) and isinstance(spec.get("name"), str):
        return spec["name"]
    return getattr(verifier, "target", "") or verifier.name


def _mark_gate(parts: tuple[Part, ...], gate: str | int | None) -> tuple[Part, ...]:
    """Mark the part the `gate` option names; then check the gated share cannot round to zero."""
    names = [p.name for p in parts]
    if gate is not None:
        if isinstance(gate, int) and not isinstance(gate, bool) and 0 <= gate < len(parts):
            index = gate
        elif isinstance(gate, str) and gate in names:
            index = names.index(gate)
        else:
            raise ConfigError(
                f"verifier 'compose': gate={gate!r} names no part; give a name ({', '.join(names)}) "
                f"or an index below {len(parts)}."
            )
        parts = tuple(Part(p.name, p.verifier, p.weight, p.gate or i == index) for i, p in enumerate(parts))
    gated = [p.weight for p in parts if p.gate]
    if gated and math.fsum(gated) / math.fsum(p.weight for p in parts) <= 0.0:
        raise ConfigError("verifier 'compose': the gated parts' weight is too small next to the others; raise it.")
    return parts


def _route(reference: Any, names: list[str]) -> list[Any] | str:
    """Each part's reference, or what is wrong with a routed ({"parts": {...}}) reference."""
    if not (isinstance(reference, Mapping) and "parts" in reference):
        return [reference] * len(names)
    routed = reference["parts"]
    if set(reference) != {"parts"} or not isinstance(routed, Mapping):
        return "a routed reference is exactly {'parts': {part name: reference}}; move other keys inside."
    unknown = sorted(set(routed) - set(names))
    if unknown:
        return f"reference 'parts' has '{unknown[0]}', which is no part; the parts are: {', '.join(names)}."
    missing = [n for n in names if n not in routed]
    if missing:
        return f"reference 'parts' has no entry for '{missing[0]}'; add one (null if it needs no reference)."
    return [routed[n] for n in names]
