r"""A safe reader of math answers: LaTeX or plain text in, sympy objects out.

Model text never reaches `eval`, `exec`, `sympify`, `parse_expr` or latex2sympy. A
tokenizer accepts a fixed alphabet (digits, ASCII letters, a few operators and a known
list of LaTeX commands) and a recursive-descent parser builds sympy objects with their
constructors. Anything else (prose, unknown commands, quotes, `__import__`, attribute
access, unbalanced brackets) raises `MathParseError` with a one-sentence message.

What it reads

    numbers     12  -3  0.25  .5  1.5e3  1.5\times10^{3}  1.5\cdot 10^3  "−" (U+2212)
                Decimals are exact: "0.1" is Rational(1, 10), never a binary float.
    thousands   1,234,567  1{,}234  1\,234  32,\!349  32,\! 349 (the MATH dataset's form):
                after a first group of 1-3 digits not starting with 0, groups of exactly
                three digits. So "1,23" and "1234,567" are lists, and "0,111" is the list
                0, 111 (a decimal comma or two values; never 111). A plain comma is a
                separator only outside ( ), [ ] and \{ \}: inside them it separates items,
                so (12,102) is a tuple and [1,000, 2] has three items; the explicit forms
                {,} \, and ,\! are thousands separators everywhere: (1{,}000, 2).
    arithmetic  + - * / ^ ** × ÷ · \cdot \times \div, brackets, \left( \right), n!
                implicit products: 2\sqrt{3}  2\pi  3x  (1+x)(1-x)
                a/b and \frac{a}{b} of two numbers are fraction literals (a written value);
                a \div b and a ÷ b are always the division operator, an expression to
                evaluate. ":" is not read (ratios are not numbers here).
    commands    \frac \dfrac \tfrac \cfrac (also \frac12), \sqrt{x} \sqrt[n]{x} \sqrt2
                \sqrt(2), \binom, \pi π \infty ∞, \sin \cos \tan \sec \csc \cot \arcsin
                \arccos \arctan \ln \log \log_b \exp (argument in braces, brackets, or one
                factor: \ln 2), Greek letters as variables, x_1 subscripts
    decoration  $ \$ € £ (dropped), \text{...} / \mathrm{...} unit words after a value
                (5\text{ cm} -> 5), spacing \, \! \; \: ~ \quad, \displaystyle, \textbf{}
    markers     50\%  50%     -> the number 50 with `percent=True` (not 0.5)
                45^\circ 45°  -> the number 45 with `degrees=True` when the whole value is a
                                 number; inside an expression (\sin 30^\circ) a factor pi/180
    equations   x = 3         -> 3 (one variable on the left of one "=")

Conventions where notation is ambiguous

    e           Euler's number wherever it stands alone (e, e^{x}, \mathrm{e}, 1 - 1/e); "2e3"
                (digits, e, digits) is scientific notation.
    i           the imaginary unit.
    \log        the natural logarithm; \log_b x is base b.
    letters     one letter is a variable; two or three in a row are a product (xy, abc), as
                in LaTeX; four or more are prose and rejected, unless a known name (sqrt, sin).
    a/2b        rejected: "/" followed by an implicit product reads two ways.
    2\frac12    rejected: a mixed number is 2½ in school and 2·½ in LaTeX.
    2 3         rejected: two numbers side by side are not a product.
    x^23        the exponent is the whole number 23 (plain-text reading).

Structures (the `Parsed` union)

    \{1, 2\}            Group("set", ...)
    (1, 2)              Group("tuple", ...)
    1, 2   3 or 4       Group("list", ...)    " or " / " and " separate answers too
    [1, 2)  (1, 2]  [1, 2]   Interval(left_closed, left, right, right_closed)
    A \cup B            Group("union", ...)
    a \pm b             Group("set", (a + b, a - b))

Limits, checked while the tree is built and before sympy computes the risky step
(`MathTooLarge`, a `MathParseError`):

    - input over MAX_CHARS characters; brackets or operators nested over MAX_DEPTH;
    - a power whose value would have more than MAX_DIGITS digits, estimated as
      |exponent| * log10|base| from the operands, so 9^{9^{9^9}} stops at once;
    - a root of a number over 100 digits that is not exact (sympy would factor it);
    - n! for n > MAX_FACTORIAL (n! of a non-integer or negative number is a parse error);
    - any exact number over _HARD_DIGITS digits built along the way (products of factorials).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Literal, NamedTuple

import sympy

__all__ = [
    "MAX_CHARS",
    "MAX_DEPTH",
    "MAX_DIGITS",
    "MAX_FACTORIAL",
    "Group",
    "Interval",
    "MathParseError",
    "MathTooLarge",
    "Parsed",
    "Scalar",
    "parse_math",
]

MAX_CHARS = 1000
MAX_DEPTH = 50
MAX_DIGITS = 10_000
MAX_FACTORIAL = 10_000
_HARD_DIGITS = 50_000  # 10000! alone has 35,660 digits
_MAX_SYMBOLIC_EXPONENT = 1000  # (x + 1)^{10^6} is small to write but huge to expand
_ROOT_DIGITS = 100
_LOG10_2 = math.log10(2)


class MathParseError(ValueError):
    """The text is not a math answer this parser reads; the message is one short sentence."""


class MathTooLarge(MathParseError):
    """The text asks for a number or a nesting too large to build safely."""


# ------------------------------------------------------------------------------------------
# What the parser returns


@dataclass(frozen=True)
class Scalar:
    """One value.

    literal:     written as a plain number: 12, -0.5, 1.5e3, 3/4, \\frac{3}{4} (markers,
                 currency and units allowed around it), as opposed to an expression.
    places:      digits after the decimal point of a decimal literal (sci notation shifts
                 it: 1.5e3 has -2); None when the value was not written as a decimal.
    significant: significant digits of a decimal literal (0.0333 has 3).
    """

    expr: sympy.Expr
    literal: bool = False
    places: int | None = None
    significant: int = 0
    percent: bool = False
    degrees: bool = False


@dataclass(frozen=True)
class Group:
    kind: Literal["set", "tuple", "list", "union"]
    items: tuple[Parsed, ...]


@dataclass(frozen=True)
class Interval:
    left_closed: bool
    left: Scalar
    right: Scalar
    right_closed: bool


Parsed = Scalar | Group | Interval


def parse_math(text: str) -> Parsed:
    r"""Read one answer.

    >>> parse_math(r"\frac{1}{2}").expr
    1/2
    >>> parse_math("1,234").expr
    1234
    >>> parse_math("1, 2").kind
    'list'
    """
    if not isinstance(text, str):
        raise MathParseError(f"the answer is {type(text).__name__}, not text.")
    if len(text) > MAX_CHARS:
        raise MathTooLarge(f"the answer is longer than {MAX_CHARS} characters (too large).")
    tokens = _tokenize(_normalize(text))
    if not tokens:
        raise MathParseError("the answer is empty.")
    _check_brackets(tokens)
    try:
        return _answer(tokens)
    except MathParseError:
        raise
    except (ArithmeticError, TypeError, ValueError, NotImplementedError) as exc:
        # sympy refused an operation on well-formed input (e.g. an invalid comparison)
        raise MathParseError(f"the expression cannot be built ({type(exc).__name__}).") from exc


# ------------------------------------------------------------------------------------------
# Tokens


class _Num(NamedTuple):
    value: sympy.Rational
    places: int | None  # None: written without a decimal point or exponent
    significant: int
    plain: str  # the digits when written as a bare integer (so \frac12 can split them)


class _Tok(NamedTuple):
    # kinds: num var func op lset rset sep unit pct deg cur pm cup
    kind: str
    text: str
    value: object = None


_UNICODE = {
    "\u2212": "-", "\u2013": "-", "\u00d7": r"\times ", "\u00b7": r"\cdot ", "\u22c5": r"\cdot ",
    "\u00f7": r"\div ", "\u03c0": r"\pi ", "\u221e": r"\infty ", "\u221a": r"\sqrt ",
    "\u00b0": r"\degree ", "\u00b2": "^2", "\u00b3": "^3", "\u20ac": "$", "\u00a3": "$",
    "\u00b1": r"\pm ", "\u222a": r"\cup ", "\u00a0": " ", "\u2009": " ", "\u202f": " ",
}  # fmt: skip

_DIGIT_CHARS = "0123456789"
_INT = re.compile(r"[0-9]*")
_GROUP_SEP = re.compile(r"(?:,|,\\!\s*|\{,\}|\\,)([0-9]{3})(?![0-9])")  # 1,234 1,\!234 1{,}234 1\,234
_EXPLICIT_SEP = re.compile(r",\\!\s*[0-9]|\{,\}|\\,")  # the forms that are never a list's comma
_SCI = re.compile(r"[eE]([+-]?[0-9]+)")
_DEGREE = re.compile(r"\^\s*(?:\\circ(?![A-Za-z])|\{\s*\\circ\s*\})")
_OPS = "+-*/^!()[]{},=_"
_UNIT_TEXT = re.compile(r"[A-Za-z][A-Za-z .,/^-]*")  # no digits: "or 1074" is not a unit

_FUNCTIONS = {
    "frac": "frac", "dfrac": "frac", "tfrac": "frac", "cfrac": "frac",
    "binom": "binom", "dbinom": "binom", "tbinom": "binom", "sqrt": "sqrt",
    "sin": "sin", "cos": "cos", "tan": "tan", "sec": "sec", "csc": "csc", "cot": "cot",
    "arcsin": "asin", "arccos": "acos", "arctan": "atan", "ln": "ln", "log": "log", "exp": "exp",
}  # fmt: skip
_SYMPY_FUNCTIONS = {
    "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "sec": sympy.sec, "csc": sympy.csc,
    "cot": sympy.cot, "asin": sympy.asin, "acos": sympy.acos, "atan": sympy.atan, "ln": sympy.log,
}  # fmt: skip
_GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta",
    "iota", "kappa", "lambda", "mu", "nu", "xi", "rho", "sigma", "tau", "upsilon", "phi", "varphi",
    "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Sigma", "Phi", "Psi", "Omega",
}  # fmt: skip
_CONSTANTS = {"pi": sympy.pi, "infty": sympy.oo, "infin": sympy.oo}
_OP_COMMANDS = {"cdot": "*", "times": "*", "ast": "*", "div": "÷"}  # ÷ divides; "/" may be a literal
_IGNORED_COMMANDS = {
    "left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr",
    "displaystyle", "textstyle", "quad", "qquad", "mathbf", "textbf", "boldsymbol", "bm",
    "mathit", "textit",
}  # fmt: skip
_SYMBOL_COMMANDS = {
    "%": _Tok("pct", "%"),
    "$": _Tok("cur", "$"),
    "{": _Tok("lset", "\\{"),
    "}": _Tok("rset", "\\}"),
}
_MARK_COMMANDS = {"pm": "pm", "cup": "cup", "degree": "deg", "lbrace": "lset", "rbrace": "rset"}
_TEXT_COMMANDS = {"text", "textrm", "mathrm", "mbox", "textnormal", "textup", "operatorname"}
_PLAIN_FUNCTIONS = (
    "sqrt",
    "sin",
    "cos",
    "tan",
    "sec",
    "csc",
    "cot",
    "arcsin",
    "arccos",
    "arctan",
    "ln",
    "log",
    "exp",
)
_WORDS = {  # names a model types without a backslash: "sqrt(2)", "3 or 4", "pi"
    "or": _Tok("sep", "or"), "and": _Tok("sep", "and"),
    "pi": _Tok("var", "pi", sympy.pi), "inf": _Tok("var", "oo", sympy.oo),
    "infty": _Tok("var", "oo", sympy.oo), "infinity": _Tok("var", "oo", sympy.oo),
    **{name: _Tok("func", _FUNCTIONS[name]) for name in _PLAIN_FUNCTIONS},
}  # fmt: skip


def _normalize(text: str) -> str:
    for old, new in _UNICODE.items():
        text = text.replace(old, new)
    text = text.strip()
    if text.endswith(".") and not text.endswith(".."):
        text = text[:-1].rstrip()  # a sentence's full stop, "5." -> "5"
    return text


def _tokenize(text: str, depth: int = 0, outer: int = 0) -> list[_Tok]:
    """`outer`: how many ( [ \\{ enclose `text` (for \\text{...} read inside brackets)."""
    if depth > MAX_DEPTH:
        raise MathTooLarge("the answer is nested too deeply (too large).")
    tokens: list[_Tok] = []
    i = 0
    enclosing, counted = outer, 0  # open ( [ \{ before `i`, from the tokens counted so far
    while i < len(text):
        ch = text[i]
        if ch.isspace() or ch == "~":
            i += 1
        elif ch in _DIGIT_CHARS or (ch == "." and _digit_at(text, i + 1)):
            enclosing += sum(_item_bracket(token) for token in tokens[counted:])
            counted = len(tokens)
            token, i = _scan_number(text, i, plain_commas=enclosing <= 0)
            tokens.append(token)
        elif ch.isascii() and ch.isalpha():
            j = i
            while j < len(text) and text[j].isascii() and text[j].isalpha():
                j += 1
            tokens.extend(_word(text[i:j]))
            i = j
        elif ch == "\\":
            i = _command(text, i, tokens, depth, outer)
        elif ch == "^" and (degree := _DEGREE.match(text, i)):
            tokens.append(_Tok("deg", "°"))
            i = degree.end()
        elif text.startswith("**", i):
            tokens.append(_Tok("op", "^"))
            i += 2
        elif text.startswith("!!", i):
            raise MathParseError("double factorials (n!!) are not read.")
        elif ch in _OPS:
            tokens.append(_Tok("op", ch))
            i += 1
        elif ch == "%":
            tokens.append(_Tok("pct", "%"))
            i += 1
        elif ch == "$":
            tokens.append(_Tok("cur", "$"))
            i += 1
        else:
            raise MathParseError(f"unexpected character {ch!r}.")
    return tokens


def _scan_number(text: str, i: int, plain_commas: bool = True) -> tuple[_Tok, int]:
    """One number token. `plain_commas`: a bare "," may be a thousands separator (False inside
    ( [ \\{, where it separates items); {,} \\, and ,\\! are separators either way."""
    start = i
    whole = _INT.match(text, i).group()  # type: ignore[union-attr]
    i += len(whole)
    grouped = False
    if 1 <= len(whole) <= 3 and whole[0] != "0":  # a first group of 1-3 digits, not "0,111"
        while group := _GROUP_SEP.match(text, i):
            if not (plain_commas or _EXPLICIT_SEP.match(text, i)):
                break
            whole += group.group(1)
            i = group.end()
            grouped = True
    frac = None
    if text.startswith(".", i) and _digit_at(text, i + 1):
        frac = _INT.match(text, i + 1).group()  # type: ignore[union-attr]
        i += 1 + len(frac)
    exponent, sci = 0, _SCI.match(text, i)
    if sci:
        if len(sci.group(1).lstrip("+-0")) > 6 or abs(int(sci.group(1))) > MAX_DIGITS:
            raise MathTooLarge(f"the exponent in {text[start : sci.end()][:30]!r} is too large.")
        exponent = int(sci.group(1))
        i = sci.end()
    digits = whole + (frac or "")
    shift = len(frac or "") - exponent
    mantissa = int(digits)
    value = sympy.Rational(mantissa, 10**shift) if shift >= 0 else sympy.Integer(mantissa * 10**-shift)
    places = shift if frac is not None or sci else None
    plain = whole if frac is None and not sci and not grouped else ""
    return _Tok("num", text[start:i], _Num(value, places, len(digits.lstrip("0")), plain)), i


def _item_bracket(token: _Tok) -> int:
    """+1 for ( [ \\{, -1 for ) ] \\}: the brackets whose commas separate items."""
    if token.kind == "lset" or _is_op(token, "(["):
        return 1
    if token.kind == "rset" or _is_op(token, ")]"):
        return -1
    return 0


def _digit_at(text: str, k: int) -> bool:
    return k < len(text) and text[k] in _DIGIT_CHARS


def _word(run: str) -> list[_Tok]:
    key = run.lower() if run.lower() in ("or", "and") else run  # "OR" separates answers too
    if key in _WORDS:
        return [_WORDS[key]]
    if len(run) > 3:
        raise MathParseError(f"{run[:20]!r} reads as words, not math.")
    return [_letter(ch) for ch in run]  # "xy" is x*y, as in LaTeX


def _letter(ch: str) -> _Tok:
    if ch == "e":
        return _Tok("var", "e", sympy.E)
    if ch == "i":
        return _Tok("var", "i", sympy.I)
    return _Tok("var", ch, sympy.Symbol(ch))


def _command(text: str, i: int, tokens: list[_Tok], depth: int, outer: int = 0) -> int:
    """Tokenize the backslash command at `i`, append its tokens, return the next index."""
    if i + 1 >= len(text):
        raise MathParseError("the answer ends with a lone backslash.")
    nxt = text[i + 1]
    if not (nxt.isascii() and nxt.isalpha()):
        if nxt in _SYMBOL_COMMANDS:
            tokens.append(_SYMBOL_COMMANDS[nxt])
        elif nxt not in ",;:! ()[]":  # spacing, and the \( \) \[ \] math delimiters
            raise MathParseError(f"unknown command \\{nxt}.")
        return i + 2
    j = i + 1
    while j < len(text) and text[j].isascii() and text[j].isalpha():
        j += 1
    name = text[i + 1 : j]
    if name in ("left", "right"):
        k = j
        while k < len(text) and text[k] == " ":
            k += 1
        return k + 1 if text.startswith(".", k) else j  # \left. and \right. are invisible
    if name in _IGNORED_COMMANDS:
        return j  # \textbf{5} leaves a grouping brace around 5
    if name in _TEXT_COMMANDS:
        return _text_command(text, j, name, tokens, depth, outer)
    if name in ("emptyset", "varnothing"):
        tokens.extend([_Tok("lset", "\\{"), _Tok("rset", "\\}")])
        return j
    token = _simple_command(name)
    if token is None:
        raise MathParseError(f"unknown command \\{name[:20]}.")
    tokens.append(token)
    return j


def _simple_command(name: str) -> _Tok | None:
    if name in _OP_COMMANDS:
        return _Tok("op", _OP_COMMANDS[name])
    if name in _CONSTANTS:
        return _Tok("var", name, _CONSTANTS[name])
    if name in _FUNCTIONS:
        return _Tok("func", _FUNCTIONS[name])
    if name in _GREEK:
        return _Tok("var", name, sympy.Symbol(name))
    if name in _MARK_COMMANDS:
        return _Tok(_MARK_COMMANDS[name], name)
    return None


def _text_command(text: str, j: int, name: str, tokens: list[_Tok], depth: int, outer: int = 0) -> int:
    r"""\text{...}: a connective ("or"), a unit word, a letter, or math to read as math."""
    while j < len(text) and text[j] == " ":
        j += 1
    if not text.startswith("{", j):
        raise MathParseError(f"\\{name} must be followed by {{...}}.")
    end = _closing_brace(text, j)
    content = text[j + 1 : end].strip()
    if content.lower() in ("or", "and"):
        tokens.append(_Tok("sep", content.lower()))
    elif content in ("e", "i"):
        tokens.append(_letter(content))
    elif len(content) == 1 and content.isascii() and content.isalpha():
        tokens.append(_Tok("unit", content, sympy.Symbol(content)))  # a unit after a value, else a letter
    elif _UNIT_TEXT.fullmatch(content) and not {"or", "and"} & set(content.lower().split()):
        tokens.append(_Tok("unit", content))  # dropped after a value; "or more" is read (and fails)
    elif content:
        outer += sum(_item_bracket(token) for token in tokens)  # (\text{12,102}) is a tuple too
        tokens.extend(_tokenize(content, depth + 1, outer))  # \text{5}, \text{(A)}
    return end + 1


def _closing_brace(text: str, open_index: int) -> int:
    depth, i = 0, open_index
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return i
        i += 1
    raise MathParseError("a brace is not closed.")


# ------------------------------------------------------------------------------------------
# Structure: sets, tuples, intervals, lists, alternatives; then one value each


_OPENERS, _CLOSERS = "([{", ")]}"


def _depth_change(token: _Tok) -> int:
    if token.kind == "lset" or (token.kind == "op" and token.text in _OPENERS):
        return 1
    if token.kind == "rset" or (token.kind == "op" and token.text in _CLOSERS):
        return -1
    return 0


def _check_brackets(tokens: list[_Tok]) -> None:
    depth = 0
    for token in tokens:
        depth += _depth_change(token)
        if depth < 0:
            raise MathParseError("a closing bracket has no opening one.")
        if depth > MAX_DEPTH:
            raise MathTooLarge(f"brackets are nested more than {MAX_DEPTH} deep (too large).")
    if depth:
        raise MathParseError("a bracket is not closed.")


def _closer(tokens: list[_Tok], start: int) -> int:
    """Index of the token closing the bracket opened at `start` (any bracket type)."""
    depth = 0
    for k in range(start, len(tokens)):
        depth += _depth_change(tokens[k])
        if depth == 0:
            return k
    raise MathParseError("a bracket is not closed.")


def _split(tokens: list[_Tok], kind: str, text: str | None = None) -> list[list[_Tok]]:
    """Split at top-level tokens of `kind` (and `text`), outside all brackets."""
    parts: list[list[_Tok]] = [[]]
    depth = 0
    for token in tokens:
        depth += _depth_change(token)
        if depth == 0 and token.kind == kind and (text is None or token.text == text):
            parts.append([])
        else:
            parts[-1].append(token)
    return parts


def _is_op(token: _Tok, chars: str) -> bool:
    return token.kind == "op" and token.text in chars


def _encloses(tokens: list[_Tok]) -> bool:
    return _depth_change(tokens[0]) == 1 and _closer(tokens, 0) == len(tokens) - 1


def _answer(tokens: list[_Tok]) -> Parsed:
    parts = _split(tokens, "sep")
    if len(parts) > 1:  # "3 or 4", "x = 1 \text{ and } x = 2": several answers
        return Group("list", tuple(_structure(part, allow_list=False) for part in parts))
    return _structure(tokens, allow_list=True)


def _structure(tokens: list[_Tok], allow_list: bool) -> Parsed:
    if not tokens:
        raise MathParseError("a part of the answer is empty.")
    while _is_op(tokens[0], "{") and _encloses(tokens):
        tokens = tokens[1:-1]
        if not tokens:
            raise MathParseError("a part of the answer is empty.")
    unions = _split(tokens, "cup")
    if len(unions) > 1:
        return Group("union", tuple(_as_union_part(_structure(part, False)) for part in unions))
    if tokens[0].kind == "lset" and tokens[-1].kind == "rset" and _encloses(tokens):
        inner = tokens[1:-1]
        items = _split(inner, "op", ",") if inner else []
        return Group("set", tuple(_structure(item, False) for item in items))
    if _is_op(tokens[0], "([") and _encloses(tokens):
        items = _split(tokens[1:-1], "op", ",")
        if len(items) > 1:
            return _bracketed(tokens[0].text, items, tokens[-1].text)
    items = _split(tokens, "op", ",")
    if len(items) > 1:
        if not allow_list:
            raise MathParseError("a list inside a set, tuple or alternative needs brackets.")
        return Group("list", tuple(_structure(item, False) for item in items))
    return _scalar_with_pm(tokens)


def _bracketed(opener: str, items: list[list[_Tok]], closer: str) -> Parsed:
    if len(items) == 2 and (opener == "[" or closer == "]"):
        return Interval(opener == "[", _scalar(items[0]), _scalar(items[1]), closer == "]")
    kind = {"()": "tuple", "[]": "list"}.get(opener + closer)
    if kind is None:
        raise MathParseError("only an interval may mix ( and ].")
    return Group(kind, tuple(_structure(item, False) for item in items))  # type: ignore[arg-type]


def _as_union_part(part: Parsed) -> Parsed:
    if isinstance(part, Group) and part.kind == "tuple" and len(part.items) == 2:
        left, right = part.items
        if isinstance(left, Scalar) and isinstance(right, Scalar):
            return Interval(False, left, right, False)  # (a, b) in a union is an open interval
    return part


def _scalar_with_pm(tokens: list[_Tok]) -> Parsed:
    signs = [k for k, token in enumerate(tokens) if token.kind == "pm"]
    if not signs:
        return _scalar(tokens)
    if len(signs) > 1:
        raise MathParseError("only one \\pm per value is read.")
    k = signs[0]
    plus, minus = (tokens[:k] + [_Tok("op", sign)] + tokens[k + 1 :] for sign in "+-")
    return Group("set", (_scalar(plus), _scalar(minus)))


def _scalar(tokens: list[_Tok]) -> Scalar:
    tokens = _strip_equation(tokens)
    tokens = _strip_units(_strip_currency(tokens))
    percent = bool(tokens) and tokens[-1].kind == "pct"
    if percent:
        tokens = _strip_currency(tokens[:-1])
    if tokens and tokens[-1].kind == "deg":
        value = _Parser(tokens[:-1]).parse()
        if value.literal:  # 45° stays the number 45, marked; the verifier decides what it equals
            return replace(value, degrees=True, percent=percent)
    return replace(_Parser(tokens).parse(), percent=percent)


def _strip_equation(tokens: list[_Tok]) -> list[_Tok]:
    sides = _split(tokens, "op", "=")
    if len(sides) == 1:
        return tokens
    left = sides[0]
    single_variable = len(left) >= 1 and left[0].kind == "var" and isinstance(left[0].value, sympy.Symbol)
    if len(sides) != 2 or not single_variable or not _is_subscript(left[1:]):
        raise MathParseError("only an equation 'x = value' with one variable on the left is read.")
    return sides[1]


def _is_subscript(tokens: list[_Tok]) -> bool:
    return not tokens or (_is_op(tokens[0], "_") and len(tokens) in (2, 4))


def _strip_currency(tokens: list[_Tok]) -> list[_Tok]:
    if tokens and tokens[-1].kind == "cur":
        tokens = tokens[:-1]
    if tokens and tokens[0].kind == "cur":
        tokens = tokens[1:]
    elif len(tokens) > 1 and _is_op(tokens[0], "+-") and tokens[1].kind == "cur":
        tokens = tokens[:1] + tokens[2:]
    return tokens


def _strip_units(tokens: list[_Tok]) -> list[_Tok]:
    r"""Drop a trailing unit (\text{ cm}^2, \mathrm{m}/\mathrm{s}) after a value."""
    units = [k for k, token in enumerate(tokens) if token.kind == "unit" and k > 0]
    if not units:
        return tokens
    tail = tokens[units[0] :]
    if all(t.kind in ("unit", "num") or _is_op(t, "/*^{}") for t in tail):
        return tokens[: units[0]]
    return tokens


# ------------------------------------------------------------------------------------------
# Expressions: a recursive-descent parser over one value's tokens


@dataclass(frozen=True)
class _Node:
    expr: sympy.Expr
    form: str = "expr"  # "number" (a signed numeral), "fraction" (number/number), or "expr"
    places: int | None = None
    significant: int = 0


class _Parser:
    """expr := term (+|- term)*; term := unary ((*|/|implicit) unary)*;
    unary := (+|-) unary | power; power := postfix (^ unary)?; postfix := primary (! | °)*"""

    def __init__(self, tokens: list[_Tok]) -> None:
        self.tokens = list(tokens)  # a copy: \frac12 splits a number token in place
        self.pos = 0
        self.depth = 0

    def parse(self) -> Scalar:
        if not self.tokens:
            raise MathParseError("a value is empty.")
        node = self.expr()
        if self.pos < len(self.tokens):
            raise MathParseError(f"unexpected {self._describe(self.tokens[self.pos])}.")
        literal = node.form in ("number", "fraction")
        return Scalar(node.expr, literal, node.places if node.form == "number" else None, node.significant)

    # -- helpers ---------------------------------------------------------------------------
    def _peek(self) -> _Tok | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _next(self) -> _Tok:
        token = self._peek()
        if token is None:
            raise MathParseError("the value ends too early.")
        self.pos += 1
        return token

    def _at_op(self, chars: str) -> bool:
        token = self._peek()
        return token is not None and _is_op(token, chars)

    def _expect(self, char: str) -> None:
        token = self._peek()
        if token is None or not _is_op(token, char):
            raise MathParseError(f"expected {char!r} but found {self._describe(token)}.")
        self.pos += 1

    @staticmethod
    def _describe(token: _Tok | None) -> str:
        return "the end" if token is None else repr(token.text[:20])

    def _starts_factor(self) -> bool:
        token = self._peek()
        return token is not None and (token.kind in ("num", "var", "func", "unit") or _is_op(token, "({"))

    # -- grammar ---------------------------------------------------------------------------
    def expr(self) -> _Node:
        node = self.term()
        while self._at_op("+-"):
            sign = self._next().text
            rhs = self.term()
            node = _Node(_make(sympy.Add(node.expr, rhs.expr if sign == "+" else -rhs.expr)))
        return node

    def term(self) -> _Node:
        node = self._scientific(self.unary())
        while True:
            if self._at_op("*"):
                self.pos += 1
                node = _Node(_make(sympy.Mul(node.expr, self.unary().expr)))
            elif self._at_op("/÷"):
                slash = self._next().text == "/"
                rhs = self.unary()
                if self._starts_factor():
                    raise MathParseError("a/bc reads two ways; write a/(bc) or (a/b)c.")
                # 3/4 is a written fraction; 32800 \div 205 is a division left to do
                form = "fraction" if slash and node.form == rhs.form == "number" else "expr"
                node = _Node(_divide(node.expr, rhs.expr), form)
            elif self._starts_factor():
                if self._peek().kind == "num":  # type: ignore[union-attr]
                    raise MathParseError("two numbers side by side are not read as a product.")
                mixed = node.form == "number" and self._peek().text == "frac"  # type: ignore[union-attr]
                rhs = self.power()
                if mixed and rhs.form == "fraction":
                    raise MathParseError("a mixed number like 2\\frac{1}{2} reads two ways.")
                node = _Node(_make(sympy.Mul(node.expr, rhs.expr)))
            else:
                return node

    def _scientific(self, node: _Node) -> _Node:
        r"""Fold `1.5 \times 10^{3}` into one number literal."""
        if node.form != "number":
            return node
        ahead = self.tokens[self.pos : self.pos + 7]
        if not (len(ahead) >= 4 and _is_op(ahead[0], "*") and ahead[1].kind == "num"):
            return node
        if ahead[1].value.plain != "10" or not _is_op(ahead[2], "^"):  # type: ignore[union-attr]
            return node
        braced = _is_op(ahead[3], "{")
        body = ahead[4:] if braced else ahead[3:]
        sign = -1 if body and _is_op(body[0], "-") else 1
        body = body[1:] if body and _is_op(body[0], "+-") else body
        if not body or body[0].kind != "num" or not body[0].value.plain:  # type: ignore[union-attr]
            return node
        used = 3 + braced + (len(ahead[3 + braced :]) - len(body)) + 1
        if braced:
            if len(ahead) <= used or not _is_op(ahead[used], "}"):
                return node
            used += 1
        if len(body[0].value.plain) > 6 or int(body[0].value.plain) > MAX_DIGITS:  # type: ignore[union-attr]
            raise MathTooLarge("a power of ten in scientific notation is too large.")
        exponent = sign * int(body[0].value.plain)  # type: ignore[union-attr]
        self.pos += used
        places = (node.places or 0) - exponent
        return _Node(_make(node.expr * sympy.Integer(10) ** exponent), "number", places, node.significant)

    def unary(self) -> _Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise MathTooLarge(f"the expression is nested more than {MAX_DEPTH} deep (too large).")
        try:
            if self._at_op("+-"):
                sign = self._next().text
                node = self.unary()
                expr = node.expr if sign == "+" else _make(-node.expr)
                form = node.form if node.form in ("number", "fraction") else "expr"
                return _Node(expr, form, node.places, node.significant)
            return self.power()
        finally:
            self.depth -= 1

    def power(self) -> _Node:
        base = self.postfix()
        if self._at_op("^"):
            self.pos += 1
            exponent = self.unary()
            return _Node(_power(base.expr, exponent.expr))
        return base

    def postfix(self) -> _Node:
        node = self.primary()
        while True:
            token = self._peek()
            if token is not None and _is_op(token, "!"):
                self.pos += 1
                node = _Node(_factorial(node.expr))
            elif token is not None and token.kind == "deg":
                self.pos += 1
                node = _Node(_make(node.expr * sympy.pi / 180))
            else:
                return node

    def primary(self) -> _Node:
        token = self._next()
        if token.kind == "num":
            num: _Num = token.value  # type: ignore[assignment]
            return _Node(num.value, "number", num.places, num.significant)
        if token.kind in ("var", "unit") and isinstance(token.value, sympy.Expr):
            return _Node(self._subscripted(token.value))
        if token.kind == "func":
            return self._function(token.text)
        if _is_op(token, "([{"):
            inner = self.expr()
            self._expect({"(": ")", "[": "]", "{": "}"}[token.text])
            form = inner.form if inner.form in ("number", "fraction") else "expr"  # (-5), (3/4) stay literal
            return _Node(inner.expr, form, inner.places, inner.significant)
        raise MathParseError(f"unexpected {self._describe(token)}.")

    def _subscripted(self, value: sympy.Expr) -> sympy.Expr:
        if not (isinstance(value, sympy.Symbol) and self._at_op("_")):
            return value
        self.pos += 1
        token = self._next()
        if _is_op(token, "{"):
            label = self._next()
            self._expect("}")
        else:
            label = token
        if label.kind not in ("num", "var") or not label.text.isalnum():
            raise MathParseError("a subscript must be a letter or a number.")
        return sympy.Symbol(f"{value.name}_{label.text}")

    # -- commands --------------------------------------------------------------------------
    def _function(self, name: str) -> _Node:
        if name == "frac":
            top, bottom = self._argument(), self._argument()
            form = "fraction" if top.form == bottom.form == "number" else "expr"
            return _Node(_divide(top.expr, bottom.expr), form)
        if name == "sqrt":
            return _Node(self._root())
        if name == "binom":
            return _Node(_binomial(self._argument().expr, self._argument().expr))
        return _Node(self._applied(name))

    def _argument(self, parentheses: bool = False) -> _Node:
        r"""A command's argument: {...}, or one character (\frac12), or (...) for \sqrt(2)."""
        token = self._peek()
        if token is None:
            raise MathParseError("a command is missing its argument.")
        if _is_op(token, "{") or (parentheses and _is_op(token, "(")):
            self.pos += 1
            inner = self.expr()
            self._expect("}" if token.text == "{" else ")")
            return inner
        if token.kind == "num":
            num: _Num = token.value  # type: ignore[assignment]
            if len(token.text) == 1:
                self.pos += 1
                return _Node(num.value, "number", None, num.significant)
            if not num.plain:
                raise MathParseError("put a command's multi-character argument in braces.")
            rest = num.plain[1:]  # \frac12: the first digit is this argument
            self.tokens[self.pos] = _Tok(
                "num", rest, _Num(sympy.Integer(int(rest)), None, len(rest.lstrip("0")), rest)
            )
            return _Node(sympy.Integer(int(num.plain[0])), "number", None, 1)
        if token.kind == "var":
            self.pos += 1
            return _Node(token.value)  # type: ignore[arg-type]
        raise MathParseError(f"a command cannot take {self._describe(token)} as its argument.")

    def _root(self) -> sympy.Expr:
        index = None
        if self._at_op("["):
            self.pos += 1
            index = self.expr().expr
            self._expect("]")
            if not (index.is_Integer and index.is_positive):
                raise MathParseError("the index of \\sqrt[n] must be a positive integer.")
        radicand = self._argument(parentheses=True).expr
        return _power(radicand, sympy.Rational(1, index) if index is not None else sympy.Rational(1, 2))

    def _applied(self, name: str) -> sympy.Expr:
        r"""\sin^2 x, \log_2 8, \ln(x), \exp{x}: optional power and base, then the argument."""
        exponent = base = None
        while self._at_op("^_"):
            mark = self._next().text
            if mark == "^" and exponent is None:
                exponent = self.unary().expr
            elif mark == "_" and name == "log" and base is None:
                base = self._argument().expr
            else:
                raise MathParseError(f"unexpected {mark!r} after a function name.")
        if self._peek() is None:
            raise MathParseError("a function is missing its argument.")
        argument = (self.primary() if self._at_op("([{") else self.power()).expr
        if name == "exp":
            value = _power(sympy.E, argument)
        elif name == "log":
            value = _make(
                sympy.log(argument) if base is None else _divide(sympy.log(argument), sympy.log(base))
            )
        else:
            value = _make(_SYMPY_FUNCTIONS[name](argument))
        return value if exponent is None else _power(value, exponent)


# ------------------------------------------------------------------------------------------
# Guarded constructors: every size limit is checked before sympy computes the value


def _make(expr: sympy.Expr) -> sympy.Expr:
    if expr.has(sympy.zoo, sympy.nan):
        raise MathParseError("the value is undefined (a division by zero or similar).")
    if expr.is_Rational and _digits(expr) > _HARD_DIGITS:
        raise MathTooLarge(f"a number in the answer has more than {_HARD_DIGITS} digits (too large).")
    return expr


def _digits(rational: sympy.Rational) -> float:
    return max(abs(rational.p).bit_length(), rational.q.bit_length()) * _LOG10_2


def _divide(top: sympy.Expr, bottom: sympy.Expr) -> sympy.Expr:
    if bottom == 0:
        raise MathParseError("the answer divides by zero.")
    return _make(sympy.Mul(top, sympy.Pow(bottom, -1)))


def _power(base: sympy.Expr, exponent: sympy.Expr) -> sympy.Expr:
    if exponent.is_number and not base.is_number:
        if exponent.is_Rational and abs(exponent) > _MAX_SYMBOLIC_EXPONENT:
            raise MathTooLarge(f"a power of an expression above {_MAX_SYMBOLIC_EXPONENT} is too large.")
    elif exponent.is_number and base.is_number and base not in (0, 1, -1):
        size = _magnitude(exponent)
        if size > MAX_DIGITS or size * _log10_size(base) > MAX_DIGITS:
            raise MathTooLarge(f"a power in the answer would have more than {MAX_DIGITS} digits (too large).")
        # sympy looks for factors of a big radicand and primality-tests what is left: minutes
        big_root = (
            base.is_Rational
            and exponent.is_Rational
            and not exponent.is_Integer
            and _digits(base) > _ROOT_DIGITS
        )
        if big_root and not _exact_root(base, exponent.q):
            raise MathTooLarge(f"a root of a number over {_ROOT_DIGITS} digits is read only when exact.")
    return _make(sympy.Pow(base, exponent))


def _exact_root(base: sympy.Rational, degree: int) -> bool:
    return sympy.integer_nthroot(abs(base.p), degree)[1] and sympy.integer_nthroot(base.q, degree)[1]


def _magnitude(number: sympy.Expr) -> float:
    """|number| as a float, or infinity when it is beyond any limit; computes nothing large."""
    if number.is_Rational:
        if abs(number.p).bit_length() - number.q.bit_length() > 64:
            return math.inf
        return abs(float(number))
    value = sympy.Abs(number).evalf(15)
    if not value.is_Number or not value.is_finite:
        return math.inf
    return float(value) if value < 1e300 else math.inf


def _log10_size(base: sympy.Expr) -> float:
    """Digits a unit power of `base` adds: log10 of numerator and denominator, or |log10|base||."""
    if base.is_Rational:
        return math.log10(abs(base.p)) + math.log10(base.q)
    value = _magnitude(base)
    if value == 0 or not math.isfinite(value):
        return math.inf
    return abs(math.log10(value))


def _factorial(n: sympy.Expr) -> sympy.Expr:
    if not n.is_number:
        return sympy.factorial(n)
    if not (n.is_Integer and n.is_nonnegative):
        raise MathParseError("a factorial needs a non-negative integer.")
    if n > MAX_FACTORIAL:
        raise MathTooLarge(f"n! for n above {MAX_FACTORIAL} is too large.")
    return _make(sympy.factorial(n))


def _binomial(n: sympy.Expr, k: sympy.Expr) -> sympy.Expr:
    if n.is_number and not (n.is_Integer and n <= MAX_FACTORIAL):
        if n.is_Integer:
            raise MathTooLarge(f"\\binom{{n}}{{k}} for n above {MAX_FACTORIAL} is too large.")
        raise MathParseError("\\binom needs integers.")
    if k.is_number and not k.is_Integer:
        raise MathParseError("\\binom needs integers.")
    return _make(sympy.binomial(n, k))
