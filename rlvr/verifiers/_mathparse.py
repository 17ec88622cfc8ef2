r"""A safe reader of math answers: LaTeX or plain text in, sympy objects out.

Model text never reaches `eval`, `exec`, `sympify`, `parse_expr` or latex2sympy. A
tokenizer accepts a fixed alphabet (digits, ASCII letters, a few operators and a known
list of LaTeX commands) and a recursive-descent parser builds sympy objects with their
constructors. Anything else (prose, unknown commands, quotes, `__import__`, attribute
access, unbalanced brackets) raises `MathParseError` with a one-sentence message.

What it reads

    numbers     12  -3  0.25  .5  1.5e3  1.5\times10^{3}  1.5\cdot 10^3  "−" (U+2212)
                Decimals are exact: "0.1" is Rational(1, 10), never a binary float.
    thousands   1,234,567  1{,}234  1\,234  1 234  32,\!349  32,\! 349 (the MATH dataset's form):
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
    decoration  $ \$ € £ (dropped), spacing \, \! \; \: ~ \quad, \displaystyle
    units       \text{...} / \mathrm{...} / \textbf{...} words after a value, or plain words
                ending the answer ("12 apples"): 5\text{ km} -> 5 with `unit="km"`
    bases       204_5 1011_{2} -> the value, with `base` (it equals only an answer in that base)
    markers     50\%  50%  50 percent  50 pct -> the number 50 with `percent=True` (not 0.5)
                45^\circ 45°  -> the number 45 with `degrees=True` when the whole value is a
                                 number; inside an expression (\sin 30^\circ) a factor pi/180
    labels      x = 3   3 = x  a_{37} = 19  AB = 4  f(x) = 1  -> 3 with `label="x"` (a name on one
                side of one "="); (x, y) = (5, 8) labels each item of the tuple; S_{ABC} = 6 (a
                subscript of 2-8 letters is one name), |AB| = 1 (the segment AB), |z| = 2 (the name
                "|z|"), \frac{NO}{BO} = 2 (a ratio of segments, not N*O/(B*O))
    equations   y = 2x + y^2   2x + 4y - 3 = 0   -> Equation(left - right); a chain a = b = c and
                an equation without a variable (5 + 5 = 10) are rejected
    relations   x > 2  1 \le x < 3  3 > x \geq 1  x \in [1, 3)  x \neq 5  -x > -1
                -> an Interval (or a union, for \neq) labelled with the variable; a function at a
                point is one name there (f(2) < f(1) < f(4) is f(1) in (f(2), f(4))); |x| against
                positive numbers is its set: 1 \le |z| \le 2 is [-2, -1] \cup [1, 2]; "|" is read
                nowhere else
    escapes     a control character left by a broken string escape (form feed in "\x0crac") is
                read as the backslash letter it replaced (\f)

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
    1, 2   3 or 4   1; 2   Group("list", ...)    " or " / " and " / ";" separate answers too
    [1, 2)  (1, 2]  [1, 2]   Interval(left_closed, left, right, right_closed)
    A \cup B            Group("union", ...)
    \begin{pmatrix} a & b \\\\ c & d \end{pmatrix}   Group("matrix", rows as tuples)
    7:32  12:00         Group("ratio", ...)
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
    "Equation",
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
    unit: str = ""  # the unit word(s) written after the value ("km" in 5\text{ km}), as written
    label: str = ""  # the variable of "x = 3" (a label -> value answer); "" when none
    base: int = 10  # 204_5 is the number 54 written in base 5: it only equals a base-5 answer


@dataclass(frozen=True)
class Group:
    kind: Literal["set", "tuple", "list", "union", "matrix", "ratio"]
    items: tuple[Parsed, ...]
    label: str = ""


@dataclass(frozen=True)
class Interval:
    left_closed: bool
    left: Scalar
    right: Scalar
    right_closed: bool
    label: str = ""  # the variable of a relation ("1 \le x < 3") or of "x \in [1, 3)"


@dataclass(frozen=True)
class Equation:
    """A general equation (2x + 4y - 3 = 0, y = 2x + y^2) as `expr` = left side - right side: two
    equations are equal when their `expr`s differ by a non-zero constant factor."""

    expr: sympy.Expr


Parsed = Scalar | Group | Interval | Equation


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
    "\u2264": r"\le ", "\u2265": r"\ge ", "\u2208": r"\in ",
    # a LaTeX command whose first letter a string escape ate ("\frac" in a non-raw string is "\x0crac")
    "\x0c": r"\f", "\x08": r"\b", "\x07": r"\a", "\x0b": r"\v",
}  # fmt: skip

_DIGIT_CHARS = "0123456789"
_DOUBLED = re.compile(r"(?<!\\)\\\\(?=[A-Za-z])")  # "\\le" but not a row break "\\ 0" or "\\\\end"
_INT = re.compile(r"[0-9]*")
_GROUP_SEP = re.compile(r"(?:,|,\\!\s*|\{,\}|\\,| )([0-9]{3})(?![0-9])")  # 1,234 1,\!234 1{,}234 1\,234 1 234
_EXPLICIT_SEP = re.compile(r",\\!\s*[0-9]|\{,\}|\\,| [0-9]")  # the forms that are never a list's comma
_SCI = re.compile(r"[eE]([+-]?[0-9]+)")
_BASE = re.compile(r"_(?:\{([0-9]{1,2})\}|([0-9]))")  # 204_5, 1011_{2}
_WORD_SUBSCRIPT = re.compile(r"_\s*\{\s*([A-Za-z]{2,8})\s*\}")  # S_{ABC}, v_{max}: a name, not a product
_DEGREE = re.compile(r"\^\s*(?:\\circ(?![A-Za-z])|\{\s*\\circ\s*\})")
_OPS = "+-*/^!()[]{},=_"
_UNIT_TEXT = re.compile(r"[A-Za-z][A-Za-z .,/^-]*")  # no digits: "or 1074" is not a unit
_TRAILING_WORDS = re.compile(r"[A-Za-z]+(?:[ /][A-Za-z]+)*\s*")  # "12 apples", "3 km per hour": a unit
_RELATIONS = {
    "le": "<=", "leq": "<=", "leqslant": "<=", "lt": "<", "ge": ">=", "geq": ">=", "geqslant": ">=",
    "gt": ">", "in": "in", "neq": "!=", "ne": "!=",
}  # fmt: skip
_MATRICES = {"matrix", "pmatrix", "bmatrix", "Bmatrix", "smallmatrix"}
_NOT_UNITS = {"or", "and", "not", "no", "wrong", "incorrect", "false", "never", "isnt", "approximately", "about"}
_FUNCTIONS = {
    "frac": "frac", "dfrac": "frac", "tfrac": "frac", "cfrac": "frac",
    "binom": "binom", "dbinom": "binom", "tbinom": "binom", "sqrt": "sqrt",
    "sin": "sin", "cos": "cos", "tan": "tan", "sec": "sec", "csc": "csc", "cot": "cot",
    "arcsin": "asin", "arccos": "acos", "arctan": "atan", "ln": "ln", "log": "log", "exp": "exp",
    "sum": "sum",
}  # fmt: skip
_SUM = sympy.Function("sum")  # \sum_{k=0}^{n-1} t: kept as written, sum(t, k, 0, n - 1); never computed
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
    "displaystyle", "textstyle", "quad", "qquad", "mathbf", "boldsymbol", "bm", "mathit",
}  # fmt: skip
_SYMBOL_COMMANDS = {
    "%": _Tok("pct", "%"),
    "$": _Tok("cur", "$"),
    "{": _Tok("lset", "\\{"),
    "}": _Tok("rset", "\\}"),
}
_MARK_COMMANDS = {
    "pm": "pm", "cup": "cup", "degree": "deg", "lbrace": "lset", "rbrace": "rset",
    "vert": "bar", "lvert": "bar", "rvert": "bar",
}  # fmt: skip
_TEXT_COMMANDS = {
    "text", "textrm", "mathrm", "mbox", "textnormal", "textup", "operatorname", "textbf", "textit",
}  # fmt: skip
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
    "percent": _Tok("pct", "%"), "percentage": _Tok("pct", "%"), "pct": _Tok("pct", "%"),
    "pi": _Tok("var", "pi", sympy.pi), "inf": _Tok("var", "oo", sympy.oo),
    "infty": _Tok("var", "oo", sympy.oo), "infinity": _Tok("var", "oo", sympy.oo),
    **{name: _Tok("func", _FUNCTIONS[name]) for name in _PLAIN_FUNCTIONS},
}  # fmt: skip


def _normalize(text: str) -> str:
    for old, new in _UNICODE.items():
        text = text.replace(old, new)
    text = _DOUBLED.sub(r"\\", text)  # \\frac, an escape doubled once too often: \frac
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
            if _unit_words(text, i, j, tokens):  # "12 apples": the words after a value are its unit
                tokens.append(_Tok("unit", " ".join(text[i:].split())))
                return tokens
            tokens.extend(_word(text[i:j]))
            i = j
        elif ch == "_" and (word := _WORD_SUBSCRIPT.match(text, i)) and not _after_log(tokens):
            name = word.group(1)
            tokens.extend([_Tok("op", "_"), _Tok("op", "{"), _Tok("var", name, sympy.Symbol(name)), _Tok("op", "}")])
            i = word.end()
        elif ch == "|":  # |x| and |AB|: read only in a relation or as a name (see _abs_relation, _name_of)
            tokens.append(_Tok("bar", "|"))
            i += 1
        elif ch in "<>":
            strict = not text.startswith("=", i + 1)
            tokens.append(_Tok("rel", ch + ("" if strict else "=")))
            i += 1 if strict else 2
        elif ch == "&":
            tokens.append(_Tok("amp", "&"))
            i += 1
        elif ch == ";":  # "1; 2; 3" lists answers; inside brackets, (0; 1) separates items like a comma
            tokens.append(_Tok("op", ",") if enclosing + _open_items(tokens[counted:]) > 0 else _Tok("sep", ";"))
            i += 1
        elif ch == ":":
            tokens.append(_Tok("ratio", ":"))
            i += 1
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
    base = _BASE.match(text, i) if frac is None and not sci and not grouped else None
    if base:  # 204_5: digits in base 5, the value 54
        radix = int(base.group(1) or base.group(2))
        if not 2 <= radix <= 36 or any(int(d) >= radix for d in whole):
            raise MathParseError(f"{text[start : base.end()]!r} is not a number in base {radix}.")
        value = sympy.Integer(int(whole, radix))
        return _Tok("num", text[start : base.end()], _Num(value, None, len(whole.lstrip("0")), "")), base.end()
    digits = whole + (frac or "")
    shift = len(frac or "") - exponent
    mantissa = int(digits)
    value = sympy.Rational(mantissa, 10**shift) if shift >= 0 else sympy.Integer(mantissa * 10**-shift)
    places = shift if frac is not None or sci else None
    plain = whole if frac is None and not sci and not grouped else ""
    return _Tok("num", text[start:i], _Num(value, places, len(digits.lstrip("0")), plain)), i


def _open_items(tokens: list[_Tok]) -> int:
    return sum(_item_bracket(token) for token in tokens)


def _item_bracket(token: _Tok) -> int:
    """+1 for ( [ \\{, -1 for ) ] \\}: the brackets whose commas separate items."""
    if token.kind == "lset" or _is_op(token, "(["):
        return 1
    if token.kind == "rset" or _is_op(token, ")]"):
        return -1
    return 0


def _after_log(tokens: list[_Tok]) -> bool:
    return bool(tokens) and tokens[-1].kind == "func" and tokens[-1].text == "log"  # \log_{ab}: a base


def _digit_at(text: str, k: int) -> bool:
    return k < len(text) and text[k] in _DIGIT_CHARS


def _unit_words(text: str, i: int, j: int, tokens: list[_Tok]) -> bool:
    """Whether the words from `i` to the end are a unit after a value ("12 apples"): the first is
    not a name this parser knows, and none is a connective, so "12 or more" still fails."""
    if not tokens or text[i:j] in _WORDS or j - i <= 3 or not _TRAILING_WORDS.fullmatch(text, i):
        return False
    last = tokens[-1]
    if not (last.kind in ("num", "pct", "deg", "cur") or _is_op(last, ")}")):
        return False
    return not _NOT_UNITS & set(text[i:].lower().replace("/", " ").split())


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
        if nxt == "\\":
            tokens.append(_Tok("row", "\\\\"))  # a matrix row break
        elif nxt in _SYMBOL_COMMANDS:
            tokens.append(_SYMBOL_COMMANDS[nxt])
        elif nxt not in ",;:! ()[]":  # spacing, and the \( \) \[ \] math delimiters
            raise MathParseError(f"unknown command \\{nxt}.")
        return i + 2
    j = i + 1
    while j < len(text) and text[j].isascii() and text[j].isalpha():
        j += 1
    name = text[i + 1 : j]
    for space in ("qquad", "quad"):  # "\\quadx_2": a space run into the next letter, as a typesetter reads it
        if name.startswith(space) and len(name) > len(space) and name not in _TEXT_COMMANDS:
            return i + 1 + len(space)
    if name in ("left", "right"):
        k = j
        while k < len(text) and text[k] == " ":
            k += 1
        return k + 1 if text.startswith(".", k) else j  # \left. and \right. are invisible
    if name in _IGNORED_COMMANDS:
        return j  # \textbf{5} leaves a grouping brace around 5
    if name in _TEXT_COMMANDS:
        return _text_command(text, j, name, tokens, depth, outer)
    if name in ("begin", "end"):
        return _environment(text, j, name, tokens)
    if name in ("emptyset", "varnothing"):
        tokens.extend([_Tok("lset", "\\{"), _Tok("rset", "\\}")])
        return j
    token = _simple_command(name)
    if token is None:
        raise MathParseError(f"unknown command \\{name[:20]}.")
    tokens.append(token)
    return j


def _environment(text: str, j: int, name: str, tokens: list[_Tok]) -> int:
    r"""\begin{pmatrix} ... \end{pmatrix}: a matrix's brackets; any other environment fails."""
    match = re.match(r"\s*\{([A-Za-z]+)\*?\}", text[j:])
    if match is None or match.group(1) not in _MATRICES:
        raise MathParseError("only matrix environments (\\begin{pmatrix}) are read.")
    tokens.append(_Tok("lmat" if name == "begin" else "rmat", match.group(1)))
    return j + match.end()


def _simple_command(name: str) -> _Tok | None:
    if name in _RELATIONS:
        return _Tok("rel", _RELATIONS[name])
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
    if token.kind in ("lset", "lmat") or (token.kind == "op" and token.text in _OPENERS):
        return 1
    if token.kind in ("rset", "rmat") or (token.kind == "op" and token.text in _CLOSERS):
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
    if len(parts) > 1:  # "3 or 4", "x = 1 \text{ and } x = 2", "1; 2; 3": several answers
        items: list[Parsed] = []
        for part in parts:
            if len(part) > 1 and _is_op(part[-1], ","):
                part = part[:-1]  # "19, 46, and 82"
            value = _structure(part, allow_list=True)
            if isinstance(value, Group) and value.kind == "list" and not _labels_in(value):
                items.extend(value.items)  # "21, 16 or 11" is one list of three answers
            else:
                items.append(value)  # "p = 5, q = 2; p = 7, q = 2": two labelled solutions
        return Group("list", tuple(items))
    return _structure(tokens, allow_list=True)


def _labels_in(value: Group) -> bool:
    return bool(value.label) or any(getattr(item, "label", "") for item in value.items)


def _structure(tokens: list[_Tok], allow_list: bool) -> Parsed:
    if not tokens:
        raise MathParseError("a part of the answer is empty.")
    while _is_op(tokens[0], "{") and _encloses(tokens):
        tokens = tokens[1:-1]
        if not tokens:
            raise MathParseError("a part of the answer is empty.")
    if len(_split(tokens, "rel")) > 1:
        return _relation(tokens)
    sides = _split(tokens, "op", "=")
    if len(sides) == 2 and len(_split(sides[0], "ratio")) > 1 and all(map(_label_of, _split(sides[0], "ratio"))):
        name = ":".join(_label_of(part) for part in _split(sides[0], "ratio"))  # V_1 : V_2 = 11 : 21
        return _with_label(_structure(sides[1], allow_list), name)
    if len(sides) == 2 and (_name_of(sides[0]) or _tuple_labels(sides[0])):
        return _labelled(sides[0], sides[1], allow_list)
    if len(sides) == 2 and _label_of(sides[1]) and not _label_of(sides[0]):
        return _labelled(sides[1], sides[0], allow_list)  # "3 = x"
    if _is_op(tokens[0], "(") and len(tokens) > 2 and tokens[1].kind == "lmat" and _encloses(tokens[1:-1]):
        tokens = tokens[1:-1]  # (\\begin{pmatrix} ... \\end{pmatrix})
    if tokens[0].kind == "lmat" and _encloses(tokens):
        return _matrix(tokens[1:-1])
    ratio = _split(tokens, "ratio")
    if len(ratio) > 1:  # 7:32, 12:00: compared term by term, in order
        return Group("ratio", tuple(_scalar(part) for part in ratio))
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
    if len(sides) > 1:
        return _equation(sides)
    return _scalar_with_pm(tokens)


def _label_of(tokens: list[_Tok]) -> str:
    """The variable name when `tokens` are one variable (x, a_3, a_{37}, \\theta), else ""."""
    if not tokens or tokens[0].kind != "var" or not isinstance(tokens[0].value, sympy.Symbol):
        return ""
    if not _is_subscript(tokens[1:]):
        return ""
    value = _Parser(tokens).parse().expr
    return value.name if isinstance(value, sympy.Symbol) else ""


def _name_of(tokens: list[_Tok]) -> str:
    """The name on the left of "name = value": a variable (x, a_3), a segment or angle named by 2-4 capital
    letters (AB, ABC), or a function at a variable or number (f(x), W(3)); "" for anything else, so
    2x = 6 and x^2 = 3 are equations, not a name for 6 or 3."""
    if _label_of(tokens):
        return _label_of(tokens)
    if _segment(tokens):
        return _segment(tokens)
    if len(tokens) > 2 and tokens[0].kind == tokens[-1].kind == "bar":  # |AB| is the length AB; |z| is |z|
        inner = _name_of(tokens[1:-1])
        return "" if not inner or "|" in inner else (inner if _segment(tokens[1:-1]) else f"|{inner}|")
    if _segment_ratio(tokens):
        return _segment_ratio(tokens)
    if (len(tokens) == 4 and _label_of(tokens[:1]) and _is_op(tokens[1], "(") and _is_op(tokens[3], ")")
            and tokens[2].kind in ("var", "num") and tokens[2].text.isalnum()):
        return f"{tokens[0].text}({tokens[2].text})"
    return ""


def _segment(tokens: list[_Tok]) -> str:
    """"AB" for a segment or angle named by 2-4 capital letters (A B, ABC); "" otherwise."""
    letters = [t.text for t in tokens if t.kind == "var" and len(t.text) == 1]
    if 2 <= len(tokens) <= 4 and len(letters) == len(tokens) and all(c.isupper() for c in letters):
        return "".join(letters)
    return ""


def _segment_ratio(tokens: list[_Tok]) -> str:
    r""""NO/BO" for \frac{NO}{BO} or NO/BO, a ratio of two segments named on the left of "=" (a product of
    letters N*O/(B*O) would cancel O); "" otherwise, so \frac{x}{y} = 2 stays an equation."""
    if tokens and tokens[0].kind == "func" and tokens[0].text == "frac" and _is_op(tokens[1], "{"):
        end = _closer(tokens, 1)
        top, rest = tokens[2:end], tokens[end + 1 :]
        if rest and _is_op(rest[0], "{") and _closer(rest, 0) == len(rest) - 1:
            bottom = rest[1:-1]
        else:
            return ""
    else:
        slashes = [k for k, t in enumerate(tokens) if _is_op(t, "/")]
        if len(slashes) != 1:
            return ""
        top, bottom = tokens[: slashes[0]], tokens[slashes[0] + 1 :]
    return f"{_segment(top)}/{_segment(bottom)}" if _segment(top) and _segment(bottom) else ""


def _tuple_labels(tokens: list[_Tok]) -> list[str]:
    """["x", "y"] for "(x, y)": the left side of a tuple equation (x, y) = (5, 8); else []."""
    if not (tokens and _is_op(tokens[0], "(") and _encloses(tokens)):
        return []
    labels = [_label_of(item) for item in _split(tokens[1:-1], "op", ",")]
    return labels if len(labels) > 1 and all(labels) and len(set(labels)) == len(labels) else []


def _labelled(left: list[_Tok], right: list[_Tok], allow_list: bool) -> Parsed:
    """x = 3 -> 3 labelled x; (x, y) = (5, 8) -> a tuple of labelled values; y = 2x + y^2, whose
    right side holds its own label, is a general equation."""
    names = _tuple_labels(left)
    value = _structure(right, allow_list)
    if names:
        if not (isinstance(value, Group) and value.kind == "tuple" and len(value.items) == len(names)):
            raise MathParseError("a tuple equation (x, y) = (...) needs as many values as names.")
        return replace(value, items=tuple(_with_label(v, n) for v, n in zip(value.items, names)))
    name = _name_of(left)
    if isinstance(value, Scalar) and sympy.Symbol(name) in value.expr.free_symbols:
        return _equation([left, right])
    return _with_label(value, name)


def _with_label(value: Parsed, name: str) -> Parsed:
    if isinstance(value, Equation):
        raise MathParseError("a chain of equations is not read; give one value.")
    if getattr(value, "label", "") not in ("", name):
        raise MathParseError("a value has two names.")
    return replace(value, label=name)


def _equation(sides: list[list[_Tok]]) -> Equation:
    """A general equation: left - right, which must involve a variable (5 + 5 = 10 is arithmetic)."""
    if len(sides) != 2:
        raise MathParseError("a chain of equations (a = b = c) is not read; give one value.")
    left, right = (_Parser(side).parse().expr for side in sides)
    expr = _make(left - right)
    if not expr.free_symbols:
        raise MathParseError("an equation between numbers is not an answer; give the value.")
    return Equation(expr)


def _relation(tokens: list[_Tok]) -> Parsed:
    r"""x > 2, 1 \le x < 3, 2 < x, x \in [1, 3): an interval labelled with its variable. A function at a
    point or a variable is one name here (f(2) < f(1) < f(4) is f(1) in (f(2), f(4)); 0 < f(x) < 1), and
    |x| bounded by numbers is its interval or pair of intervals (1 \le |z| \le 2)."""
    tokens = _applications(tokens)
    parts = _split(tokens, "rel")
    ops = [t.text for t in tokens if t.kind == "rel"]  # top-level only: brackets hold no relation
    if any(_abs_of(part) for part in parts):
        return _abs_relation(parts, ops)
    if "in" in ops:
        name = _label_of(parts[0])
        if len(parts) != 2 or not name:
            raise MathParseError("read 'x \\in S' with one variable on the left.")
        return _with_label(_structure(parts[1], False), name)
    if len(parts) == 2:
        name, bound, op = _label_of(parts[0]), parts[1], ops[0]
        if not name:  # "2 < x" is "x > 2"
            name, bound, op = _label_of(parts[1]), parts[0], _FLIPPED[ops[0]]
        if not name:
            return _linear_relation(parts, ops[0])
        value, closed = _scalar(bound), op.endswith("=")
        if op == "!=":  # x \\neq 5: everything but 5
            return Group("union", (Interval(False, Scalar(-sympy.oo), value, False),
                                   Interval(False, value, Scalar(sympy.oo), False)), name)
        if op.startswith(">"):
            return Interval(closed, value, Scalar(sympy.oo), False, name)
        return Interval(False, Scalar(-sympy.oo), value, closed, name)
    name = _label_of(parts[1]) if len(parts) == 3 else ""
    if not name or ops[0][0] != ops[1][0] or not set(ops) <= _ORDERS:  # 1 \neq x \neq 3 is no interval
        raise MathParseError("a chained relation must read a < x < b (or a > x > b).")
    low, high = _scalar(parts[0]), _scalar(parts[2])
    if ops[0].startswith(">"):
        return Interval(ops[1].endswith("="), high, low, ops[0].endswith("="), name)
    return Interval(ops[0].endswith("="), low, high, ops[1].endswith("="), name)


_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "!=": "!="}
_ORDERS = {"<", "<=", ">", ">="}


def _applications(tokens: list[_Tok]) -> list[_Tok]:
    """f(2) -> the one name "f(2)": a letter applied to a number or a letter, so f(2) is not 2f (and
    2f(1) stays twice the name f(1), a different bound)."""
    out: list[_Tok] = []
    k = 0
    while k < len(tokens):
        window = tokens[k : k + 4]
        if (len(window) == 4 and window[0].kind == "var" and isinstance(window[0].value, sympy.Symbol)
                and len(window[0].text) == 1 and _is_op(window[1], "(") and _is_op(window[3], ")")
                and window[2].kind in ("num", "var") and window[2].text.isalnum()):
            name = f"{window[0].text}({window[2].text})"
            out.append(_Tok("var", name, sympy.Symbol(name)))
            k += 4
        else:
            out.append(tokens[k])
            k += 1
    return out


def _abs_of(tokens: list[_Tok]) -> str:
    """The variable of |x| (x, a_1, f(x) after `_applications`), else ""."""
    if len(tokens) < 3 or tokens[0].kind != "bar" or tokens[-1].kind != "bar":
        return ""
    return _label_of(tokens[1:-1])


def _abs_relation(parts: list[list[_Tok]], ops: list[str]) -> Parsed:
    r"""|x| < c is (-c, c); |x| \ge c is (-\infty, -c] \cup [c, \infty); a < |x| \le b is (-b, -a] \cup (a, b]:
    the set of real x, labelled x. The bounds must be positive numbers (a < b), else the relation is refused."""
    if not set(ops) <= _ORDERS:
        raise MathParseError("read |x| only in an order relation (<, \\le, >, \\ge) with numbers.")
    if len(parts) == 2:
        name, bound, op = _abs_of(parts[0]), parts[1], ops[0]
        if not name:
            name, bound, op = _abs_of(parts[1]), parts[0], _FLIPPED[ops[0]]
        value = _scalar(bound) if name else None
        if value is None or not _positive(value.expr):
            raise MathParseError("read |x| against one positive number, as in |x| < 3.")
        closed, minus = op.endswith("="), replace(value, expr=_make(-value.expr))
        if op.startswith("<"):
            return Interval(closed, minus, value, closed, name)
        return Group("union", (Interval(False, Scalar(-sympy.oo), minus, closed),
                               Interval(closed, value, Scalar(sympy.oo), False)), name)
    name = _abs_of(parts[1]) if len(parts) == 3 else ""
    if not name or ops[0][0] != ops[1][0]:
        raise MathParseError("a chained relation with |x| must read a < |x| < b.")
    low, high = _scalar(parts[0]), _scalar(parts[2])
    low_closed, high_closed = ops[0].endswith("="), ops[1].endswith("=")
    if ops[0].startswith(">"):
        low, high, low_closed, high_closed = high, low, high_closed, low_closed
    if not (_positive(low.expr) and _positive(high.expr - low.expr)):
        raise MathParseError("read a < |x| < b with 0 < a < b.")
    negative = Interval(high_closed, replace(high, expr=_make(-high.expr)), replace(low, expr=_make(-low.expr)),
                        low_closed)
    return Group("union", (negative, Interval(low_closed, low, high, high_closed)), name)


def _positive(value: sympy.Expr) -> bool:
    return bool(value.is_number and value.is_real and value.is_finite and value.is_positive)


def _linear_relation(parts: list[list[_Tok]], op: str) -> Interval:
    """-x > -1 is x < 1: a relation linear in its one variable, solved for it (dividing by a negative
    coefficient flips the relation)."""
    left, right = (_Parser(part).parse().expr for part in parts)
    expr = _make(left - right)
    symbols = list(expr.free_symbols)
    if len(symbols) != 1 or op == "!=":
        raise MathParseError("a relation needs one variable alone on one side, or one variable in all.")
    (x,) = symbols
    slope, rest = expr.coeff(x, 1), expr.coeff(x, 0)
    if not (slope.is_number and slope.is_real and slope != 0 and not _make(expr - slope * x - rest).free_symbols):
        raise MathParseError("a relation must be linear in its variable to be read.")
    bound = Scalar(_make(-rest / slope), literal=True)
    op = op if slope > 0 else _FLIPPED[op]
    if op.startswith(">"):
        return Interval(op.endswith("="), bound, Scalar(sympy.oo), False, x.name)
    return Interval(False, Scalar(-sympy.oo), bound, op.endswith("="), x.name)


def _matrix(tokens: list[_Tok]) -> Group:
    r"""\begin{pmatrix} a & b \\\\ c & d \end{pmatrix}: rows of cells, compared in order."""
    rows = [row for row in _split(tokens, "row") if row]
    if not rows:
        raise MathParseError("a matrix is empty.")
    cells = [[_structure(cell, False) for cell in _split(row, "amp")] for row in rows]
    if len({len(row) for row in cells}) != 1:
        raise MathParseError("the rows of a matrix have different lengths.")
    return Group("matrix", tuple(Group("tuple", tuple(row)) for row in cells))


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
    tokens, unit = _strip_units(_strip_currency(tokens))
    tokens = _strip_currency(tokens) if unit else tokens  # "$125$ miles"
    percent = bool(tokens) and tokens[-1].kind == "pct"
    if percent:
        tokens = _strip_currency(tokens[:-1])
    if tokens and tokens[-1].kind == "deg":
        value = _Parser(tokens[:-1]).parse()
        if value.literal:  # 45° stays the number 45, marked; the verifier decides what it equals
            return replace(value, degrees=True, percent=percent, unit=unit)
    base = int(_BASE.search(tokens[0].text).group().strip("_{}")) if _is_based(tokens) else 10
    return replace(_Parser(tokens).parse(), percent=percent, unit=unit, base=base)


def _is_based(tokens: list[_Tok]) -> bool:
    return len(tokens) == 1 and tokens[0].kind == "num" and "_" in tokens[0].text


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


def _strip_units(tokens: list[_Tok]) -> tuple[list[_Tok], str]:
    r"""Split off a trailing unit (\text{ cm}^2, \mathrm{m}/\mathrm{s}) after a value; the unit
    comes back as written (spaces squeezed) for the verifier to compare."""
    units = [k for k, token in enumerate(tokens) if token.kind == "unit" and k > 0]
    if not units:
        return tokens, ""
    tail = tokens[units[0] :]
    if all(t.kind in ("unit", "num") or _is_op(t, "/*^{}") for t in tail):
        unit = "".join(t.text if t.kind != "unit" else " ".join(t.text.split()) for t in tail)
        return tokens[: units[0]], unit
    return tokens, ""


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
        self.sums = 0  # inside a \sum's term, F_{n-k-1} is a term of a sequence (an undefined function)

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
        following = self.tokens[self.pos + 1] if self.pos + 1 < len(self.tokens) else None
        if _is_op(token, "{") and self.sums and not (following is not None and _is_op(following, "}")):
            index = self.expr().expr  # F_{n-k-1}
            self._expect("}")
            return _make(sympy.Function(value.name)(index))
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
        if name == "sum":
            return _Node(self._sum())
        return _Node(self._applied(name))

    def _sum(self) -> sympy.Expr:
        r"""\sum_{k=a}^{b} term, the term a product (\sum_{k=1}^{n} k + 1 is (\sum k) + 1), kept unevaluated as
        sum(term, k, a, b): two sums are equal only as written, up to the order of factors and terms. A
        bound must involve a variable: a sum of numbers is arithmetic left to do (and sympy could take
        minutes summing 10^9 terms), so it is refused."""
        self._expect("_")
        self._expect("{")
        index = self._next()
        if index.kind != "var" or not isinstance(index.value, sympy.Symbol):
            raise MathParseError("read a sum as \\sum_{k=a}^{b} with a letter k.")
        self._expect("=")
        low = self.expr().expr
        self._expect("}")
        self._expect("^")
        high = self._argument().expr
        if low.is_number and high.is_number:
            raise MathParseError("a sum with number bounds is arithmetic left to do; give its value.")
        self.sums += 1
        try:
            term = self.term().expr
        finally:
            self.sums -= 1
        return _make(_SUM(term, index.value, low, high))

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
