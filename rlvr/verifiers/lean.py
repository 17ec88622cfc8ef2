"""The `lean` verifier: compile the proof with Lean 4 and audit the axioms it rests on.

Reference: `{"theorem": "theorem t : 2 + 2 = 4"}`, the statement without its proof (a
trailing `:=`, `:= by` or `:= by sorry` is dropped). The proof attaches to the last
`theorem`/`lemma` in the text, and its name is the one audited. The completion is the proof.

Lean REPL checkers (DeepSeek-Prover, Kimina) accept a proof when Lean reports no error and
no `sorry`, and never look at axioms: `axiom cheat : False`, `native_decide`
(`Lean.ofReduceBool`), `set_option debug.skipKernelTC`, and commands that redefine syntax
pass them. Here a proof must clear two independent layers:

1. Static: before anything runs, the proof is scanned for constructs a proof never needs
   and exploits do (`forbidden_construct`): declarations of axioms, `sorry`, native
   evaluation (`native_decide`, `decide +native`, `native := true`), kernel bypasses
   (`set_option debug.*`), new syntax/notation/elaborators, attributes, `#`-commands,
   `import`. `decide` itself, also as `simp (config := {decide := true})`, stays allowed:
   the kernel checks it. Comments are blanked first with a lexer that nests `/- -/` as
   Lean does, so a word in a comment does not count and a comment cannot hide code; a
   proof with string or «quoted» literals is scanned whole, comments included.
2. Lean: the file ends with `#print axioms <name>`. The proof passes only when Lean exits 0,
   reports no error and no "declaration uses 'sorry'", and the last message, the one at the
   `#print axioms` line, names the theorem and lists nothing beyond propext,
   Classical.choice and Quot.sound. Since the proof cannot define commands or elaborators,
   it cannot fake that report; a missing or misplaced report fails ("axioms").

Wrapping (the file is `imports`, the reference, the proof, then `#print axioms`):
- The last ```lean / ```lean4 / ``` fenced block is the proof, if the completion has one.
- A proof starting with `:=` brings its own: the rest is a term, as below.
- A proof starting with `by`, `fun`, `λ` or `⟨` is a term: `<statement> :=` + the proof.
- Anything else is a tactic block: `<statement> := by` + the proof.
The proof is dedented, then indented two spaces on its own lines, so its relative
indentation (which Lean reads) is kept. A restated `theorem ... :=` is not stripped: the
proof alone is expected.

Lean runs as `<command> --json <file>` in the current working directory (a Lake project
for `command="lake env lean"`), in its own process group, killed at `timeout`.

Reasons: ok, forbidden, no_answer (empty proof), compile_error (detail: the first error),
timeout, sorry, axioms (detail: the unexpected axioms), bad_reference.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from rlvr._errors import ConfigError
from rlvr.verifiers.base import Verifier, register_verifier
from rlvr.verifiers.verdict import Verdict

__all__ = ["ALLOWED_AXIOMS", "LeanResult", "LeanVerifier", "forbidden_construct"]

ALLOWED_AXIOMS = frozenset({"propext", "Classical.choice", "Quot.sound"})

# Whole words, so `axiomatic` and `h_axiom` are fine and `Lean.ofReduceBool` matches by its
# last part. Word edges are ASCII identifier characters only: Lean reads `sorryλ` as `sorry`
# then `λ`, so a wider (Unicode) edge would let that through. Grouped by what they allow.
_FORBIDDEN_WORDS = (
    # assume the goal
    "axiom", "axioms", "constant", "sorry", "admit", "sorryAx",
    # evaluate in compiled code instead of the kernel (Lean.ofReduceBool / trustCompiler)
    "native_decide", "ofReduceBool", "ofReduceNat", "reduceBool", "reduceNat", "trustCompiler",
    "implemented_by", "extern", "unsafe", "skipKernelTC",
    # change what the statement or `#print axioms` means
    "macro", "macro_rules", "elab", "elab_rules", "syntax", "declare_syntax_cat",
    "notation", "infix", "infixl", "infixr", "prefix", "postfix", "attribute",
    # run arbitrary code at elaboration time
    "run_cmd", "run_tac", "run_elab", "run_meta", "initialize", "builtin_initialize", "import",
)
# `#` commands: `#eval` runs code, `#exit` stops before the audit, `#guard_msgs` swallows it.
# A list, not `#<anything>`, because Mathlib writes a Finset's cardinality as `#s`.
_HASH_COMMANDS = (
    "eval", "exit", "print", "guard_msgs", "guard", "check", "check_failure", "reduce", "synth",
    "help", "find", "simp", "norm_num", "conv", "whnf", "where", "lint", "time", "count_heartbeats",
)
_ID = "A-Za-z0-9_'!?"
_FORBIDDEN_PATTERNS = (
    (re.compile(rf"(?<![{_ID}])(?:{'|'.join(_FORBIDDEN_WORDS)})(?![{_ID}])"), None),
    (re.compile(rf"#(?:{'|'.join(_HASH_COMMANDS)})(?![{_ID}])"), None),
    (re.compile(r"@\["), None),  # attributes: @[command_elab ...] would replace #print axioms
    (re.compile(rf"(?<![{_ID}.])debug»?\."), "set_option debug.*"),
    (re.compile(rf"\+\s*native(?![{_ID}])"), None),  # decide +native is native_decide
    (re.compile(rf"(?<![{_ID}])native\s*:=\s*true"), None),
)

_SYMBOL_CHARS = frozenset("!#$%&*+-./:<=>?@\\^|~")
_FENCE = re.compile(r"```[ \t]*(?:lean4|lean)?[ \t]*\n(.*?)```", re.DOTALL)
_TERM_START = re.compile(r"(?:by|fun)(?![\w'!?])|[λ⟨]")
_TRAILING_SORRY = re.compile(r"\s*:=\s*(?:by(?![\w'!?])\s*)?(?:sorry\s*)?\Z")
_DECLARATION = re.compile(
    r"^[ \t]*(?:@\[[^\]]*\]\s*)?(?P<modifiers>(?:(?:private|protected|noncomputable|nonrec)\s+)*)"
    r"(?:theorem|lemma)\s+(?P<name>[^\s:(\[{⦃]+)",
    re.MULTILINE,
)
_AXIOM_REPORT = re.compile(
    r"'(?P<name>.+)' (?:does not depend on any axioms|depends on axioms: \[(?P<axioms>[^\]]*)\])",
    re.DOTALL,
)
_SORRY_WARNING = re.compile(r"declaration uses ['`]sorry['`]")
_ERROR_WORD = re.compile(r"\berror\b", re.IGNORECASE)
_ELAN_INSTALL = "curl https://raw.githubusercontent.com/leanprover/elan/master/elan-init.sh -sSf | sh"


class LeanResult(NamedTuple):
    """What one Lean run produced. stdout holds JSON messages, one a line (`lean --json`)."""

    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool


@register_verifier("lean")
@dataclass(frozen=True)
class LeanVerifier(Verifier):
    """Judge a Lean 4 proof of a reference theorem: it compiles, without sorry or extra axioms.

    command:    how to run Lean on a file, e.g. "lean" or "lake env lean"; None finds `lean`
                on PATH, else ~/.elan/bin/lean.
    timeout:    seconds Lean may run on one proof; its process group is killed after that.
    imports:    modules imported before the theorem, e.g. ("Mathlib",); a proof cannot import.
    isolated:   run checks in worker processes too; not needed for the time limit, since Lean
                is its own process with its own timeout. If set, time_limit must exceed timeout.
    """

    command: str | None = None
    timeout: float = 60.0
    imports: tuple[str, ...] = ()
    isolated: bool = False
    time_limit: float = 90.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.timeout <= 0:
            raise ConfigError(f"verifier 'lean': timeout must be positive, got {self.timeout}.")
        if self.isolated and self.time_limit <= self.timeout:
            raise ConfigError(
                f"verifier 'lean': time_limit ({self.time_limit:g} s) must exceed timeout ({self.timeout:g} s) "
                "when isolated, or the worker dies before Lean is stopped; raise time_limit."
            )
        imports = (self.imports,) if isinstance(self.imports, str) else tuple(self.imports)
        bad = [m for m in imports if not isinstance(m, str) or not re.fullmatch(r"[\w'.«»]+", m)]
        if bad:
            raise ConfigError(f"verifier 'lean': imports must be module names like 'Mathlib', got {bad[0]!r}.")
        object.__setattr__(self, "imports", imports)  # a list from YAML would make it unhashable
        _lean_command(self.command)  # no toolchain is a configuration error, raised now

    def check(self, completion: str, reference: Any) -> Verdict:
        parsed = _parse_reference(reference)
        if isinstance(parsed, str):
            return Verdict(0.0, "bad_reference", parsed)
        statement, name = parsed
        proof = _extract_proof(completion)
        if not _strip_comments(proof).strip():
            return Verdict(0.0, "no_answer", "the proof is empty")
        hit = forbidden_construct(proof)
        if hit is not None:
            return Verdict(0.0, "forbidden", f"the proof uses {hit!r}, which no honest proof needs")
        return self._compile(statement, name, proof)

    def _compile(self, statement: str, name: str, proof: str) -> Verdict:
        """Run Lean on the wrapped proof and judge its output; no static screening here."""
        source, print_line = _lean_source(statement, name, proof, self.imports)
        with tempfile.TemporaryDirectory(prefix="rlvr-lean-") as folder:
            path = Path(folder) / "Proof.lean"
            path.write_text(source, encoding="utf-8")
            result = _run_lean(_lean_command(self.command), str(path), self.timeout)
        return _judge_output(result, name, print_line)


# ------------------------------------------------------------------------------------------
# Finding and running Lean


def _lean_command(command: str | None) -> list[str]:
    """The argv prefix that runs Lean, or ConfigError saying how to get a toolchain."""
    if command is None:
        found = shutil.which("lean") or _elan_lean()
        if found is None:
            raise ConfigError(
                "verifier 'lean': no Lean toolchain found (no `lean` on PATH or in ~/.elan/bin); "
                f"install one with elan (`{_ELAN_INSTALL}`) or set the `command` option."
            )
        return [found]
    argv = shlex.split(command)
    if not argv or shutil.which(argv[0]) is None:
        raise ConfigError(
            f"verifier 'lean': the command {command!r} does not start with a program that exists; "
            f"install Lean with elan (`{_ELAN_INSTALL}`) or fix the `command` option."
        )
    return argv


def _elan_lean() -> str | None:
    try:
        path = Path.home() / ".elan" / "bin" / "lean"
    except RuntimeError:  # no home directory
        return None
    return str(path) if path.is_file() and os.access(path, os.X_OK) else None


def _run_lean(command: list[str], source_path: str, timeout: float) -> LeanResult:
    """Run `command --json source_path`; on timeout kill its whole process group.

    The seam tests replace. `lake env lean` starts Lean as a child, so killing only the
    direct child would leave Lean running: the run gets its own session and group.
    """
    process = subprocess.Popen(
        [*command, "--json", source_path],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # the leader is not reaped yet: pgid still ours
        except ProcessLookupError:
            pass
        try:
            stdout, stderr = process.communicate(timeout=5)
        except subprocess.TimeoutExpired:  # a grandchild escaped the group and holds the pipes
            process.kill()
            stdout, stderr = "", ""
        return LeanResult(process.returncode, stdout, stderr, timed_out=True)
    return LeanResult(process.returncode, stdout, stderr, timed_out=False)


# ------------------------------------------------------------------------------------------
# Reading the reference and the proof


def _parse_reference(reference: Any) -> tuple[str, str] | str:
    """(statement without a placeholder proof, theorem name), or why the reference is unusable."""
    theorem = reference.get("theorem") if isinstance(reference, dict) else None
    if not isinstance(theorem, str) or not theorem.strip():
        return f'the reference must be {{"theorem": "theorem t : ..."}}, got {str(reference)[:200]!r}'
    statement = _TRAILING_SORRY.sub("", theorem.rstrip())
    code = _strip_comments(statement)
    declarations = list(_DECLARATION.finditer(code))
    if not declarations:
        return "the reference needs a named `theorem` (or `lemma`), e.g. 'theorem t : 2 + 2 = 4'"
    last = declarations[-1]
    if "private" in last["modifiers"].split():
        return "a private theorem is renamed by Lean and cannot be audited; drop `private` from the reference"
    if re.search(r"(?<![\w'!?.])namespace(?![\w'!?])", code):
        return "write the theorem with its full name (theorem Foo.t) instead of inside a namespace"
    return statement, last["name"]


def _extract_proof(completion: str) -> str:
    """The proof text: the last ```lean fenced block if there is one, else the completion."""
    blocks = _FENCE.findall(completion)
    return blocks[-1] if blocks else completion


def _strip_comments(source: str) -> str:
    """Lean source with `--` and (nested) `/- -/` comments replaced by a space.

    Lean nests block comments, so `/- a /- b -/ sorry -/` is all comment. Literals are not
    lexed here; `forbidden_construct` does not strip comments from text that has any. After
    a symbol character, `--` and `/-` are left alone: an imported notation token such as
    `<--` would be code to Lean, and keeping text is stricter than dropping it.
    """
    out: list[str] = []
    i, n = 0, len(source)
    while i < n:
        pair = source[i : i + 2]
        if pair in ("--", "/-") and i > 0 and source[i - 1] in _SYMBOL_CHARS:
            out.append(source[i])
            i += 1
        elif pair == "--":
            end = source.find("\n", i)
            i = n if end < 0 else end  # keep the newline
            out.append(" ")
        elif pair == "/-":
            i = _block_comment_end(source, i)
            out.append(" ")
        else:
            out.append(source[i])
            i += 1
    return "".join(out)


def _block_comment_end(source: str, start: int) -> int:
    """Index just past the `-/` closing the block comment opened at `start` (or the end)."""
    depth, i = 0, start
    while i < len(source):
        pair = source[i : i + 2]
        if pair == "/-":
            depth, i = depth + 1, i + 2
        elif pair == "-/":
            depth, i = depth - 1, i + 2
            if depth == 0:
                return i
        else:
            i += 1
    return len(source)


def forbidden_construct(proof: str) -> str | None:
    """The first construct a proof must not use, or None.

    Comments are stripped first, but only from proofs without string or «quoted» literals:
    whether `"{ -- }"` holds a comment depends on the grammar (interpolated strings hold
    code), and a wrong guess could hide code from the scan. With literals the whole text is
    scanned, comments included: stricter, never looser.
    """
    code = proof if ('"' in proof or "«" in proof) else _strip_comments(proof)
    hits = [(m.start(), label or m.group()) for pattern, label in _FORBIDDEN_PATTERNS if (m := pattern.search(code))]
    return min(hits)[1] if hits else None  # the first in the text


def _lean_source(statement: str, name: str, proof: str, imports: tuple[str, ...] = ()) -> tuple[str, int]:
    """The file Lean checks, and the (1-based) line of its `#print axioms` command."""
    text = textwrap.dedent(proof.strip("\n")).rstrip()
    start = text.lstrip()
    if start.startswith(":="):
        head, body = " :=", start[2:].lstrip(" \t")  # as if `:=` ended the statement's line
    elif _TERM_START.match(start):
        head, body = " :=", text
    else:
        head, body = " := by", text
    body = textwrap.indent(textwrap.dedent(body.strip("\n")), "  ")
    header = "".join(f"import {module}\n" for module in imports)
    before = f"{header}\n{statement}{head}\n{body}\n\n"
    return f"{before}#print axioms {name}\n", before.count("\n") + 1


# ------------------------------------------------------------------------------------------
# Judging Lean's output


def _judge_output(result: LeanResult, name: str, print_line: int) -> Verdict:
    """Map one Lean run to a Verdict; reward 1.0 only for a clean, audited proof."""
    if result.timed_out:
        return Verdict(0.0, "timeout", "Lean did not finish within the timeout")
    messages, loose = _messages(result.stdout)
    errors = [m for m in messages if m.get("severity") == "error"]
    if errors:
        return Verdict(0.0, "compile_error", _describe(errors[0]))
    loose_errors = [line for line in loose + result.stderr.splitlines() if _ERROR_WORD.search(line)]
    if loose_errors:
        return Verdict(0.0, "compile_error", loose_errors[0].strip()[:300])
    if result.returncode != 0:
        said = next((line.strip() for line in (result.stderr + "\n" + result.stdout).splitlines() if line.strip()), "")
        return Verdict(0.0, "compile_error", f"Lean exited with code {result.returncode}: {said[:300]}")
    if any(_SORRY_WARNING.search(str(m.get("data", ""))) for m in messages):
        return Verdict(0.0, "sorry", "Lean reports that the declaration uses sorry")
    axioms = _axiom_report(messages, name, print_line)
    if axioms is None:
        return Verdict(0.0, "axioms", f"no `#print axioms` report for '{name}' as the last message")
    unexpected = [a for a in axioms if a not in ALLOWED_AXIOMS]
    if unexpected:
        return Verdict(0.0, "axioms", f"'{name}' depends on {', '.join(unexpected)}")
    return Verdict(1.0, "ok", f"'{name}' checked; axioms: {', '.join(axioms) or 'none'}")


def _messages(stdout: str) -> tuple[list[dict], list[str]]:
    """Lean's JSON messages, and any other non-empty stdout lines."""
    messages, loose = [], []
    for line in stdout.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if isinstance(message, dict) and "severity" in message:
            messages.append(message)
        else:
            loose.append(line)
    return messages, loose


def _line_of(message: dict) -> int | None:
    pos = message.get("pos")
    return pos.get("line") if isinstance(pos, dict) else None


def _describe(message: dict) -> str:
    pos = message.get("pos") if isinstance(message.get("pos"), dict) else {}
    first = (str(message.get("data", "")).strip().splitlines() or [""])[0]
    return f"line {pos.get('line', '?')}:{pos.get('column', '?')}: {first[:300]}"


def _axiom_report(messages: list[dict], name: str, print_line: int) -> list[str] | None:
    """The axioms Lean printed for `name`, if the last message is that report at our line.

    Identified by position as well as order: only our `#print axioms` command sits on that
    line, so a message printed elsewhere cannot pose as the report.
    """
    at_line = [m for m in messages if _line_of(m) == print_line]
    if len(at_line) != 1 or messages[-1] is not at_line[0] or at_line[0].get("severity") != "information":
        return None
    match = _AXIOM_REPORT.fullmatch(str(at_line[0].get("data", "")).strip())
    if match is None or match["name"] != name:
        return None
    return [axiom.strip() for axiom in (match["axioms"] or "").split(",") if axiom.strip()]
