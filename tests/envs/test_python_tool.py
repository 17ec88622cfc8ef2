"""The `python` tool: a fresh sandboxed process per call, so the code verifier's sandbox attacks must
fail closed through it too. The attack programs are the sandbox tests' own (tests/sandbox), each
ending in a `solve(a, b)` that returns a + b only if the attack worked; here the tool's program
prints `RESULT <solve(2, 3)>`, so "RESULT 5" in an observation means the attack got through. The
sandbox tests' `host` fixture checks that nothing outside the sandbox changed."""

from __future__ import annotations

import importlib.util
import json
import os
import string
from pathlib import Path

import pytest

from rlvr.envs import ToolsEnv, get_env, run_episode
from rlvr.sandbox import available_isolation

_ATTACKS_FILE = Path(__file__).resolve().parents[1] / "sandbox" / "test_sandbox_attacks.py"
_spec = importlib.util.spec_from_file_location("_sandbox_attacks_for_envs", _ATTACKS_FILE)
attacks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(attacks)
host = attacks.host  # the fixture: a listener, owned files, a secret; all checked afterwards

pytestmark = pytest.mark.skipif(
    not any(not why for kind, why in available_isolation().items() if kind != "none"),
    reason="this host cannot sandbox untrusted code (no bubblewrap, not root for unshare)",
)
P = pytest.param
TIMEOUT = 1.5


def python_call(code: str) -> str:
    return "<tool_call>" + json.dumps({"name": "python", "arguments": {"code": code}}) + "</tool_call>"


@pytest.fixture(scope="module")
def env() -> ToolsEnv:
    return ToolsEnv(tools=["python"], timeout=TIMEOUT, memory_mb=512, max_observation_chars=500)


def test_the_python_tool_runs_a_program_and_returns_what_it_prints(env):
    step = env.step(python_call("import math\nprint(math.comb(10, 3))\nprint(sum(range(5)))"))
    assert step.observation == "120\n10\n" and not step.done


def test_each_call_is_a_fresh_process(env):
    env.step(python_call("open('state.txt', 'w').write('x')\nimport builtins\nbuiltins.LEFT = 1"))
    step = env.step(python_call("import os, builtins\nprint(os.path.exists('state.txt'), hasattr(builtins, 'LEFT'))"))
    assert step.observation == "False False\n"


@pytest.mark.parametrize("code, observation", [
    P("x = 1\nprint('before')\nraise ValueError('bad value')", "error: ValueError: bad value (line 3, in <module>)\n"
      "Output before it:\nbefore\n", id="exception"),
    P("def f(:\n    pass", "error: SyntaxError: invalid syntax (line 1)", id="syntax-error"),
    P("import sys\nsys.exit(3)", "error: SystemExit: 3", id="sys-exit"),
    P("import os\nos._exit(0)", "error: the program ended before it finished (exit code 0)", id="os-exit"),
    P("pass", "(the program printed nothing)", id="silent"),
])
def test_a_failing_program_becomes_an_observation(env, code, observation):
    step = env.step(python_call(code))
    assert step.observation.startswith(observation), step.observation
    assert not step.done


def test_a_slow_program_times_out_as_an_observation(env):
    step = env.step(python_call("import time\nprint('started', flush=True)\ntime.sleep(100)"))
    assert step.observation.startswith(f"error: the program ran past its {TIMEOUT:g} s time limit")
    assert "started" in step.observation


# fmt: off
ATTACKS = [
    P("while True:\n    pass\n", {"timeout"}, id="infinite-loop"),
    P(attacks.IGNORE_SIGNALS + "while True:\n    pass\n", {"timeout"}, id="ignore-signals"),
    P("while True:\n    print('x' * 10000)\n", {"timeout"}, id="endless-output"),
    P("print(len(bytearray(10**10)))", {"memory"}, id="memory-bomb"),
    P(attacks.FORK_BOMB + "print('RESULT', solve(2, 3))", {"timeout"}, id="fork-bomb"),
    P(attacks.FORK_BURST + "print('RESULT', solve(2, 3))", {"refused"}, id="fork-burst"),
    P(attacks.ORPHAN + "print('RESULT', solve(2, 3))", {"refused"}, id="orphan-outlives-the-call"),
    P(attacks.LEAVE_THE_GROUP, {"timeout", "ended"}, id="leave-the-process-group"),
    P(attacks.CONNECT + "print('RESULT', solve(2, 3))", {"refused"}, id="network"),
    P(attacks.WRITE_OWNED + "print('RESULT', solve(2, 3))", {"refused"}, id="write-outside"),
    P(attacks.WRITE_REPO + "print('RESULT', solve(2, 3))", {"refused"}, id="write-the-repository"),
    P(attacks.DELETE_HOST_FILE + "print('RESULT', solve(2, 3))", {"refused"}, id="delete-a-host-file"),
    P(attacks.READ_SECRET_ENV + "print('RESULT', solve(2, 3))", {"refused"}, id="read-parent-env-var"),
    P(attacks.READ_PARENT_ENVIRON + "print('RESULT', solve(2, 3))", {"refused"}, id="read-parent-proc-environ"),
    P(attacks.POSIX_SYSTEM + "print('RESULT', solve(2, 3))", {"refused"}, id="posix-system"),
    P(attacks.KILL_PARENT + "print('RESULT', solve(2, 3))", {"refused"}, id="kill-the-parent"),
    P(attacks.KILL_TEST_PROCESS + "print('RESULT', solve(2, 3))", {"refused"}, id="kill-the-test-process"),
    P(attacks.PTRACE_PARENT + "print('RESULT', solve(2, 3))", {"refused"}, id="read-test-process-memory"),
    P(attacks.SETUID_ROOT + "print('RESULT', solve(2, 3))", {"refused"}, id="setuid-root"),
    P(attacks.NESTED_NAMESPACES + "print('RESULT', solve(2, 3))", {"refused"}, id="nested-namespaces"),
    P(attacks.IO_URING + "print('RESULT', solve(2, 3))", {"refused"}, id="io-uring"),
    P(attacks.FAKE_RECORDS_ON_EVERY_FD + "print('RESULT', solve(2, 3))", {"refused", "error"},
      id="fake-records-on-every-fd"),
]
# fmt: on


@pytest.mark.parametrize("code, outcomes", ATTACKS)
def test_sandbox_attacks_through_the_python_tool_fail_closed(env, host, code, outcomes):
    program = string.Template(code).safe_substitute(host)
    step = env.step(python_call(program))
    observation = step.observation
    assert "RESULT 5" not in observation, f"the attack got through: {observation[:300]}"
    assert len(observation) <= 500 + 80  # cut to max_observation_chars, plus the note saying so
    outcome = _outcome(observation)
    assert outcome in outcomes, observation[:300]
    assert os.getpid() and not step.done  # still here, and the episode goes on


def _outcome(observation: str) -> str:
    if observation.startswith("error: the program ran past"):
        return "timeout"
    if observation.startswith("error: MemoryError"):
        return "memory"
    if observation.startswith("error: the program ended before it finished"):
        return "ended"
    if "RESULT -1" in observation:
        return "refused"
    return "error" if observation.startswith("error:") else "other"


def test_the_python_tool_in_an_episode():
    env = get_env({"name": "tools", "tools": ["python", "calculator"], "timeout": TIMEOUT})
    replies = iter([python_call("print(2**100 % 7)"), "It is 2."])
    episode = run_episode(env, {"prompt": "2^100 mod 7?"}, lambda m: next(replies), 3, 500, len)
    assert episode.turns[2].role == "tool" and episode.turns[2].text == "2\n"
    assert episode.done and episode.completion == "It is 2."
