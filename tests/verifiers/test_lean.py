"""The lean verifier: static rejection, the file it writes, and the mapping of Lean's output.

Lean itself is not installed on the machines these tests were written on (its installer
downloads a toolchain from GitHub), so the reward mapping runs against a fake runner that
returns Lean's `--json` messages, and `_run_lean` against a shell script standing in for
`lean`. The tests at the end run the real thing and skip when `lean` is not on PATH.
"""

from __future__ import annotations

import json
import pickle
import shutil
import stat
import time
from pathlib import Path

import pytest

import rlvr.verifiers.lean as lean
from rlvr._errors import ConfigError
from rlvr.verifiers import get_verifier
from rlvr.verifiers.lean import LeanResult, LeanVerifier, forbidden_construct

P = pytest.param
REF = {"theorem": "theorem t : 2 + 2 = 4"}
NO_AXIOMS = "'t' does not depend on any axioms"
CLASSICAL = "'t' depends on axioms: [propext, Classical.choice, Quot.sound]"


def _message(severity: str, line: int | str, data: str) -> dict:
    return {"fileName": "Proof.lean", "pos": {"line": line, "column": 0}, "endPos": None,
            "severity": severity, "caption": "", "data": data}


class FakeLean:
    """Stands in for `_run_lean`: keeps the file it was given, answers with scripted messages.

    `messages` are (severity, line, data); line "print" means the `#print axioms` line.
    """

    def __init__(self, messages=(("information", "print", NO_AXIOMS),), returncode=0, stderr="",
                 timed_out=False, extra_stdout=""):
        self.messages, self.returncode, self.stderr = messages, returncode, stderr
        self.timed_out, self.extra_stdout = timed_out, extra_stdout
        self.sources: list[str] = []
        self.commands: list[list[str]] = []

    def __call__(self, command, source_path, timeout):
        source = Path(source_path).read_text(encoding="utf-8")
        self.sources.append(source)
        self.commands.append(command)
        print_line = source.splitlines().index(next(s for s in source.splitlines() if s.startswith("#print")))
        lines = [
            json.dumps(_message(sev, print_line + 1 if line == "print" else line, data))
            for sev, line, data in self.messages
        ]
        stdout = "\n".join(lines) + "\n" + self.extra_stdout
        return LeanResult(self.returncode, stdout, self.stderr, self.timed_out)


@pytest.fixture
def fake_toolchain(tmp_path, monkeypatch):
    """A `lean` executable on PATH (never run: the runner is faked), so construction succeeds."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _script(bin_dir / "lean", "exit 0")
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir / "lean"


@pytest.fixture
def run_with(fake_toolchain, monkeypatch):
    def install(fake: FakeLean) -> FakeLean:
        monkeypatch.setattr(lean, "_run_lean", fake)
        return fake

    return install


def _script(path: Path, body: str) -> Path:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


# ------------------------------------------------------------------------------------------
# Reward mapping: one row per kind of Lean output.

# fmt: off
OUTPUTS = [
    P(FakeLean(), 1.0, "ok", "axioms: none", id="clean-no-axioms"),
    P(FakeLean(messages=[("information", "print", CLASSICAL)]), 1.0, "ok", "Classical.choice", id="clean-classical"),
    P(FakeLean(messages=[("warning", 4, "unused variable `h`"), ("information", "print", NO_AXIOMS)]),
      1.0, "ok", "", id="harmless-warning"),
    P(FakeLean(messages=[("error", 5, "unsolved goals\n⊢ 2 + 2 = 4"), ("information", "print", NO_AXIOMS)],
               returncode=1), 0.0, "compile_error", "line 5:0: unsolved goals", id="error"),
    P(FakeLean(messages=[("error", 1, "unknown module prefix 'Mathlib'")], returncode=1),
      0.0, "compile_error", "unknown module prefix", id="missing-import"),
    P(FakeLean(messages=[], returncode=1, stderr="lean: unrecognized option '--json'"),
      0.0, "compile_error", "unrecognized option", id="exit-code-only"),
    P(FakeLean(messages=[("information", "print", NO_AXIOMS)], returncode=0, extra_stdout="INTERNAL PANIC: error\n"),
      0.0, "compile_error", "INTERNAL PANIC", id="loose-error-line"),
    P(FakeLean(messages=[("warning", 3, "declaration uses 'sorry'"),
                         ("information", "print", "'t' depends on axioms: [sorryAx]")]),
      0.0, "sorry", "", id="sorry-warning"),
    P(FakeLean(messages=[("warning", 3, "declaration uses `sorry`"),
                         ("information", "print", "'t' depends on axioms: [sorryAx]")]),
      0.0, "sorry", "", id="sorry-warning-backticks"),
    P(FakeLean(messages=[("information", "print", "'t' depends on axioms: [propext, sorryAx]")]),
      0.0, "axioms", "sorryAx", id="sorryAx-without-warning"),
    P(FakeLean(messages=[("information", "print", "'t' depends on axioms: [cheat, propext]")]),
      0.0, "axioms", "depends on cheat", id="custom-axiom"),
    P(FakeLean(messages=[("information", "print", "'t' depends on axioms: [Lean.ofReduceBool]")]),
      0.0, "axioms", "Lean.ofReduceBool", id="native-decide-axiom"),
    P(FakeLean(messages=[("information", "print",
                          "'t' depends on axioms: [propext,\n Classical.choice,\n Lean.trustCompiler]")]),
      0.0, "axioms", "Lean.trustCompiler", id="wrapped-axiom-list"),
    P(FakeLean(messages=[]), 0.0, "axioms", "no `#print axioms` report", id="no-report"),
    P(FakeLean(messages=[("information", 4, NO_AXIOMS)]), 0.0, "axioms", "no `#print axioms`",
      id="report-on-another-line"),
    P(FakeLean(messages=[("information", "print", "'X.t' does not depend on any axioms")]),
      0.0, "axioms", "no `#print axioms`", id="report-for-another-theorem"),
    P(FakeLean(messages=[("information", "print", NO_AXIOMS), ("information", "print", CLASSICAL)]),
      0.0, "axioms", "no `#print axioms`", id="two-reports"),
    P(FakeLean(messages=[("information", "print", NO_AXIOMS), ("information", 2, "later")]),
      0.0, "axioms", "no `#print axioms`", id="report-not-last"),
    P(FakeLean(messages=[("warning", "print", NO_AXIOMS)]), 0.0, "axioms", "", id="report-wrong-severity"),
    P(FakeLean(messages=[], returncode=None, timed_out=True), 0.0, "timeout", "", id="timeout"),
]
# fmt: on


@pytest.mark.parametrize(("fake", "reward", "reason", "detail"), OUTPUTS)
def test_reward_mapping(run_with, fake, reward, reason, detail):
    run_with(fake)
    verdict = LeanVerifier().verify("norm_num", REF)
    assert (verdict.reward, verdict.reason) == (reward, reason), verdict
    assert detail in verdict.detail
    assert len(fake.sources) == 1


# ------------------------------------------------------------------------------------------
# Static rejection: nothing runs (the runner would fail the test if called).

# fmt: off
EXPLOITS = [
    P("exact cheat\naxiom cheat : False", "axiom", id="axiom"),
    P("sorry", "sorry", id="sorry"),
    P("intro x\n  admit", "admit", id="admit"),
    P("exact sorryAx _ false", "sorryAx", id="sorryAx"),
    P("exact «sorryAx» _ false", "sorryAx", id="sorryAx-guillemets"),
    P("native_decide", "native_decide", id="native_decide"),
    P("decide +native", "+native", id="decide-plus-native"),
    P("decide (config := { native := true })", "native := true", id="decide-native-config"),
    P("exact Lean.ofReduceBool _ _ rfl", "ofReduceBool", id="ofReduceBool"),
    P("set_option debug.skipKernelTC true in\n  decide", "set_option debug.*", id="skipKernelTC"),
    P("set_option debug.byAsSorry true in rfl", "set_option debug.*", id="debug-option"),
    P("set_option «debug».byAsSorry true in rfl", "set_option debug.*", id="debug-option-quoted"),
    P("rfl\n@[implemented_by foo] def bar : Nat := 0", "@[", id="implemented_by"),
    P("rfl\n@[extern \"c_fn\"] opaque f : Nat", "@[", id="extern"),
    P("rfl\nunsafe def f : Nat := 0", "unsafe", id="unsafe"),
    P("rfl\nmacro \"trivial\" : tactic => `(tactic| sorry)", "macro", id="macro"),
    P("rfl\nmacro_rules | `(tactic| rfl) => `(tactic| sorry)", "macro_rules", id="macro_rules"),
    P("rfl\nelab \"#print axioms t\" : command => pure ()", "elab", id="elab-fakes-print"),
    P("rfl\nelab_rules : tactic | `(tactic| rfl) => pure ()", "elab_rules", id="elab_rules"),
    P("rfl\nsyntax \"fake\" : tactic", "syntax", id="syntax"),
    P("rfl\nnotation \"4\" => 5", "notation", id="notation"),
    P("rfl\ninfixl:65 \" + \" => HMul.hMul", "infixl", id="infix"),
    P("rfl\n@[command_elab Lean.Parser.Command.printAxioms] def fake : Lean.Elab.Command.CommandElab :=\n"
      "  fun _ => pure ()", "@[", id="attribute-replaces-print"),
    P("rfl\nattribute [local instance] foo", "attribute", id="attribute-command"),
    P("rfl\n#eval IO.println \"hi\"", "#eval", id="eval"),
    P("rfl\n#exit", "#exit", id="exit"),
    P("rfl\n/-- info: 't' does not depend on any axioms -/\n#guard_msgs in", "#guard_msgs", id="guard_msgs"),
    P("rfl\n#print axioms t", "#print", id="own-print"),
    P("exact sorryλ x => x", "sorry", id="unicode-after-keyword"),
    P("native_decide₁ <;> native_decide", "native_decide", id="subscript-is-stricter"),
    P("rfl\nrun_cmd Lean.logInfo \"x\"", "run_cmd", id="run_cmd"),
    P("run_tac Lean.Elab.Tactic.evalTactic (← `(tactic| rfl))", "run_tac", id="run_tac"),
    P("rfl\nimport Mathlib", "import", id="import"),
    P("rfl\nconstant c : False", "constant", id="constant"),
    # comments must not hide code
    P("/- a /- nested -/ comment -/ native_decide", "native_decide", id="after-nested-comment"),
    P("rfl -/ native_decide", "native_decide", id="stray-comment-close"),
    P("simp [show \"--\" = \"--\" from rfl]; native_decide", "native_decide", id="dashes-in-string"),
    P("exact (fun _ => \"/-\") native_decide \"-/\"", "native_decide", id="comment-open-in-string"),
    P("exact r#\"a\"--\"#; native_decide", "native_decide", id="raw-string"),
    P("exact s!\"{ \"--\" }\" ; native_decide", "native_decide", id="interpolated-string"),
    P("exact «x--» native_decide", "native_decide", id="guillemet-dashes"),
    P("exact a <-- native_decide", "native_decide", id="dashes-inside-an-operator"),
    P("exact (fun _ => '-') native_decide", "native_decide", id="char-literal"),
    P("exact \"sorry\".length", "sorry", id="word-in-string-is-scanned"),
]
# fmt: on


@pytest.mark.parametrize(("proof", "hit"), EXPLOITS)
def test_static_rejection(run_with, proof, hit):
    fake = run_with(FakeLean())
    verdict = LeanVerifier().verify(proof, REF)
    assert (verdict.reward, verdict.reason) == (0.0, "forbidden"), verdict
    assert forbidden_construct(proof) == hit
    assert fake.sources == []  # rejected before Lean ran


@pytest.mark.parametrize("word", lean._FORBIDDEN_WORDS)
def test_every_forbidden_word_is_caught_alone(word):
    assert forbidden_construct(f"exact Foo.{word} x") == word
    assert forbidden_construct(f"exact Foo.{word}_lemma x") is None


@pytest.mark.parametrize("command", lean._HASH_COMMANDS)
def test_every_hash_command_is_caught(command):
    assert forbidden_construct(f"rfl\n#{command} t") == f"#{command}"


# fmt: off
INNOCENT = [
    P("-- an axiomatic approach would say sorry here\nnorm_num", id="words-in-line-comment"),
    P("/- we avoid native_decide and #eval -/ norm_num", id="words-in-block-comment"),
    P("/- outer /- inner -/ still comment: sorry -/ norm_num", id="nested-comment"),
    P("/-- doc: axiom -/\nnorm_num", id="doc-comment"),
    P("norm_num-- no space before this comment about sorry", id="comment-right-after-a-word"),
    P("have h_axiom : 2 + 2 = 4 := rfl\nexact h_axiom", id="axiom-inside-identifier"),
    P("simp [Nat.add_comm, Finset.card_eq_of_bijective] at *", id="ordinary-lemmas"),
    P("open Nat in\n  simp", id="open-in"),
    P("set_option maxHeartbeats 400000 in\n  decide", id="set-option-in"),
    P("simp (config := { decide := true })", id="simp-decide-config"),
    P("rw [show #s = 2 from h]", id="finset-card-notation"),
    P("exact ⟨#[1, 2], rfl⟩", id="array-literal"),
    P("exact h.prefix_append", id="prefix-inside-name"),
]
# fmt: on


@pytest.mark.parametrize("proof", INNOCENT)
def test_innocent_text_is_not_forbidden(run_with, proof):
    run_with(FakeLean())
    assert forbidden_construct(proof) is None
    assert LeanVerifier().verify(proof, REF).reason == "ok"


@pytest.mark.parametrize("completion", ["", "   \n", "-- just a comment\n", "/- nothing -/", "```lean\n\n```"])
def test_empty_proof_is_no_answer(run_with, completion):
    fake = run_with(FakeLean())
    assert LeanVerifier().verify(completion, REF).reason == "no_answer"
    assert fake.sources == []


# ------------------------------------------------------------------------------------------
# The file Lean sees.

# fmt: off
WRAPPING = [
    P("norm_num", "theorem t : 2 + 2 = 4 := by\n  norm_num\n", id="tactic"),
    P("  intro x\n  simp", "theorem t : 2 + 2 = 4 := by\n  intro x\n  simp\n", id="tactic-indented"),
    P("constructor\n· simp\n· intro h\n  exact h",
      "theorem t : 2 + 2 = 4 := by\n  constructor\n  · simp\n  · intro h\n    exact h\n", id="tactic-nested"),
    P("by decide", "theorem t : 2 + 2 = 4 :=\n  by decide\n", id="term-by"),
    P("by\n  simp\n  ring", "theorem t : 2 + 2 = 4 :=\n  by\n    simp\n    ring\n", id="term-by-block"),
    P("fun h => h", "theorem t : 2 + 2 = 4 :=\n  fun h => h\n", id="term-fun"),
    P("⟨1, rfl⟩", "theorem t : 2 + 2 = 4 :=\n  ⟨1, rfl⟩\n", id="term-anonymous-constructor"),
    P(":= rfl", "theorem t : 2 + 2 = 4 :=\n  rfl\n", id="own-colon-eq-term"),
    P(":= by\n  simp", "theorem t : 2 + 2 = 4 :=\n  by\n    simp\n", id="own-colon-eq-by"),
    P("byContra h", "theorem t : 2 + 2 = 4 := by\n  byContra h\n", id="by-prefix-is-not-by"),
    P("Here it is:\n```lean4\nnorm_num\n```\nand again:\n```lean\ndecide\n```",
      "theorem t : 2 + 2 = 4 := by\n  decide\n", id="last-fence"),
]
# fmt: on


@pytest.mark.parametrize(("completion", "expected"), WRAPPING)
def test_wrapping(run_with, completion, expected):
    fake = run_with(FakeLean())
    assert LeanVerifier().verify(completion, REF).passed
    assert fake.sources[0] == f"\n{expected}\n#print axioms t\n"


def test_imports_come_from_the_option_and_print_line_is_found(run_with):
    fake = run_with(FakeLean())
    verdict = LeanVerifier(imports=["Mathlib", "Aesop"]).verify("norm_num", REF)
    assert verdict.passed
    assert fake.sources[0].startswith("import Mathlib\nimport Aesop\n\ntheorem t")


# fmt: off
REFERENCES = [
    P({"theorem": "theorem t : 2 + 2 = 4 := by sorry"}, "t", "theorem t : 2 + 2 = 4", id="trailing-by-sorry"),
    P({"theorem": "theorem t : 2 + 2 = 4 := by\n  sorry\n"}, "t", "theorem t : 2 + 2 = 4", id="sorry-next-line"),
    P({"theorem": "theorem t : 2 + 2 = 4 :="}, "t", "theorem t : 2 + 2 = 4", id="trailing-colon-eq"),
    P({"theorem": "/-- The sum. -/\n@[simp] protected theorem Foo.sum_two (a : Nat) (h : a = 2) :\n    a + a = 4"},
      "Foo.sum_two", None, id="docstring-attribute-dotted"),
    P({"theorem": "open Real\n\ntheorem mathd_1 (x : ℝ) (h₀ : x = 2) : x ^ 2 = 4 := by"},
      "mathd_1", "open Real\n\ntheorem mathd_1 (x : ℝ) (h₀ : x = 2) : x ^ 2 = 4", id="preamble"),
    P({"theorem": "lemma helper' : True"}, "helper'", None, id="lemma-with-prime"),
]
# fmt: on


@pytest.mark.parametrize(("reference", "name", "statement"), REFERENCES)
def test_reference_parsing(run_with, reference, name, statement):
    fake = run_with(FakeLean(messages=[("information", "print", f"'{name}' does not depend on any axioms")]))
    assert LeanVerifier().verify("norm_num", reference).passed
    assert fake.sources[0].endswith(f"#print axioms {name}\n")
    if statement is not None:
        assert f"\n{statement} := by\n" in fake.sources[0]


@pytest.mark.parametrize(
    ("reference", "detail"),
    [
        ("theorem t : 2 + 2 = 4", "must be"),
        ({"statement": "theorem t : True"}, "must be"),
        ({"theorem": ""}, "must be"),
        ({"theorem": "example : 2 + 2 = 4"}, "named `theorem`"),
        ({"theorem": "private theorem t : True"}, "drop `private`"),
        ({"theorem": "namespace Foo\ntheorem t : True"}, "full name"),
    ],
)
def test_bad_reference(run_with, reference, detail):
    fake = run_with(FakeLean())
    verdict = LeanVerifier().verify("trivial", reference)
    assert verdict.reason == "bad_reference" and detail in verdict.detail
    assert fake.sources == []


def test_batch_with_threads_keeps_order(run_with):
    run_with(FakeLean())
    verdicts = LeanVerifier().verify_batch([("norm_num", REF), ("sorry", REF), ("", REF)] * 3, workers=3)
    assert [v.reason for v in verdicts] == ["ok", "forbidden", "no_answer"] * 3


# ------------------------------------------------------------------------------------------
# Construction: the toolchain and the options.


def test_no_toolchain_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ConfigError, match="elan-init.sh") as info:
        get_verifier("lean")
    assert "`command` option" in str(info.value)


def test_missing_command_is_a_config_error(fake_toolchain):
    with pytest.raises(ConfigError, match="does not start with a program"):
        LeanVerifier(command="no-such-lake-xyz env lean")


def test_toolchain_found_in_elan_home(tmp_path, monkeypatch):
    (tmp_path / ".elan" / "bin").mkdir(parents=True)
    elan_lean = _script(tmp_path / ".elan" / "bin" / "lean", "exit 0")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert lean._lean_command(None) == [str(elan_lean)]
    LeanVerifier()  # constructs


def test_command_option_is_split_like_a_shell(fake_toolchain, run_with):
    fake = run_with(FakeLean())
    LeanVerifier(command=f"{fake_toolchain} -DmaxHeartbeats=0").verify("rfl", REF)
    assert fake.commands == [[str(fake_toolchain), "-DmaxHeartbeats=0"]]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timeout": 0}, "timeout must be positive"),
        ({"isolated": True, "timeout": 60.0, "time_limit": 30.0}, "must exceed timeout"),
        ({"imports": ["Mathlib; #eval 1"]}, "module names"),
    ],
)
def test_bad_options(fake_toolchain, options, message):
    with pytest.raises(ConfigError, match=message):
        LeanVerifier(**options)


def test_options_normalise_and_pickle(fake_toolchain):
    verifier = get_verifier({"name": "lean", "imports": ["Mathlib"]})
    assert verifier.imports == ("Mathlib",) and hash(verifier)
    assert LeanVerifier(imports="Mathlib").imports == ("Mathlib",)
    assert pickle.loads(pickle.dumps(verifier)) == verifier


# ------------------------------------------------------------------------------------------
# The real runner, with a shell script standing in for Lean.


def test_runner_passes_json_flag_and_reads_output(tmp_path):
    script = _script(tmp_path / "lean", 'echo "{\\"severity\\": \\"information\\", \\"args\\": \\"$*\\"}"')
    result = lean._run_lean([str(script)], "/tmp/Proof.lean", timeout=10)
    assert not result.timed_out and result.returncode == 0
    assert json.loads(result.stdout)["args"] == "--json /tmp/Proof.lean"


def test_runner_timeout_kills_the_process_group(tmp_path):
    pid_file = tmp_path / "child.pid"
    # Like `lake env lean`: the real work happens in a child of the command.
    script = _script(tmp_path / "lake", f"sleep 30 &\necho $! > {pid_file}\nwait")
    start = time.monotonic()
    result = lean._run_lean([str(script)], "x.lean", timeout=0.5)
    assert result.timed_out and time.monotonic() - start < 5
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie waiting for a reaper."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


# ------------------------------------------------------------------------------------------
# Real Lean: runs only where `lean` is on PATH (skipped here: no toolchain can be downloaded).

needs_lean = pytest.mark.skipif(shutil.which("lean") is None, reason="no `lean` on PATH; install one with elan")


@needs_lean
@pytest.mark.parametrize(
    ("proof", "reason"),
    [
        ("decide", "ok"),
        ("by rfl", "ok"),
        (":= rfl", "ok"),
        ("simp", "ok"),
        ("exact rfl\n  -- native_decide would be refused", "ok"),
        ("omega_nonexistent_tactic", "compile_error"),
        ("exact (rfl : 2 + 2 = 5)", "compile_error"),
        ("native_decide", "forbidden"),
    ],
)
def test_real_lean(proof, reason):
    verdict = LeanVerifier(timeout=120).verify(proof, REF)
    assert verdict.reason == reason, verdict


@needs_lean
def test_real_lean_audit_catches_what_the_scan_would():
    """Bypass the static scan: the `#print axioms` audit alone must refuse these."""
    verifier = LeanVerifier(timeout=120)
    assert verifier._compile("theorem t : 2 + 2 = 4", "t", "native_decide").reason == "axioms"
    assert verifier._compile("theorem t : 2 + 2 = 5", "t", "sorry").reason in {"sorry", "axioms"}
    source = "exact cheat\naxiom cheat : False"  # the axiom comes after: an error, not a pass
    assert not verifier._compile("theorem t : 2 + 2 = 5", "t", source).passed


@needs_lean
def test_real_lean_classical_axioms_are_allowed():
    reference = {"theorem": "theorem em' (p : Prop) : p ∨ ¬p"}
    verdict = LeanVerifier(timeout=120).verify("exact Classical.em p", reference)
    assert verdict.passed and "Classical.choice" in verdict.detail, verdict

