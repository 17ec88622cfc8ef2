"""The Ray backend of `verify_batch` gives the local backend's verdicts, in order, behind the same guard.

One local Ray instance (2 CPUs) serves the whole module. Its workers get this process's
sys.path, so they import this test module (and its scripted verifier) as the local pool's
worker processes do.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import Literal

import pytest

from rlvr._errors import ConfigError
from rlvr.verifiers import Verdict, Verifier, get_verifier, register_verifier
from rlvr.verifiers._execution import _cache_key, _pool_for
from rlvr.verifiers.code import CodeVerifier

ray = pytest.importorskip("ray")

ADD = {"entry_point": "add", "cases": [{"args": [2, 3], "expected": 5}, {"args": [-1, 1], "expected": 0}]}
SORT_PAIRS = {
    "entry_point": "sort_pairs",
    "cases": [{"args": [[[2, "b"], [1, "a"]]], "expected": [[1, "a"], [2, "b"]]}, {"args": [[]], "expected": []}],
}
# fmt: off
CODE_PAIRS = [
    ("Here it is:\n```python\ndef add(a, b):\n    return a + b\n```", ADD),                   # ok
    ("```python\ndef add(a, b):\n    return a + b + 1\n```", ADD),                                 # mismatch
    ("def add(a, b):\n    while True:\n        pass\n", ADD),                                        # timeout
    ("def sort_pairs(pairs):\n    return sorted(pairs)\n", SORT_PAIRS),                              # ok
    ("def sort_pairs(pairs):\n    return pairs\n", SORT_PAIRS),                                      # mismatch
    ("def add(a, b)\n    return a + b\n", ADD),                                                      # syntax_error
    ("def add(a, b):\n    return a / 0\n", ADD),                                                     # runtime_error
    ("no code here, sorry", ADD),                                                                    # syntax_error
]
MATH_PAIRS = [
    (r"37 * 29 = 1073, so \boxed{1073}.", "1073"),
    (r"The answer is \boxed{\frac{1}{2}}.", "0.5"),
    (r"I think \boxed{1072}.", "1073"),
    ("The answer is 7.", "7"),
    (r"\boxed{3} or \boxed{4}", "3"),
    (r"so \boxed{0.25}", "1/4"),
]
# fmt: on


@register_verifier("test-ray-scripted")
@dataclass(frozen=True)
class Scripted(Verifier):
    """Behaves as the completion says: 'raise', 'sleep:S', 'exit', or a reward."""

    mode: Literal["plain"] = "plain"

    def check(self, completion, reference):
        if completion == "raise":
            raise ValueError("boom")
        if completion.startswith("sleep:"):
            time.sleep(float(completion[6:]))
            return Verdict(1.0, "ok", completion)
        if completion == "exit":
            os._exit(3)
        return Verdict(float(completion), "ok" if float(completion) == 1 else "mismatch", str(reference))


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    path = os.pathsep.join(p for p in sys.path if p)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield
    ray.shutdown()


def _pairs_of(verdicts: list[Verdict]) -> list[tuple[float, str]]:
    return [(v.reward, v.reason) for v in verdicts]


def test_code_checks_match_the_local_backend_and_a_hang_is_a_timeout():
    verifier = CodeVerifier(timeout=3.0)  # a busy machine starts a sandbox slowly: not 1 s
    verifier.verify_batch(CODE_PAIRS[:2], workers=2, backend="ray")  # start the Ray workers outside the timed checks
    local = verifier.verify_batch(CODE_PAIRS, workers=2)
    remote = verifier.verify_batch(CODE_PAIRS, workers=2, backend="ray")
    assert remote == local  # same order, same rewards, reasons and details
    assert _pairs_of(remote) == [(1.0, "ok"), (0.0, "mismatch"), (0.0, "timeout"), (1.0, "ok"), (0.0, "mismatch"),
                                 (0.0, "syntax_error"), (0.0, "runtime_error"), (0.0, "syntax_error")]


def test_math_checks_match_the_local_backend():
    verifier = get_verifier("math")  # isolated: the local backend runs it in worker processes
    remote = verifier.verify_batch(MATH_PAIRS, workers=2, backend="ray")
    _pool_for(verifier).cache.clear()  # the local run must check again, not read the Ray run's verdicts
    local = verifier.verify_batch(MATH_PAIRS, workers=2)
    assert remote == local
    assert [v.passed for v in remote] == [True, True, False, False, False, True]


def test_time_limit_crash_and_exception_fail_closed_without_raising():
    verifier = Scripted(time_limit=1.0)
    pairs = [("1", "a"), ("sleep:30", "b"), ("0", "c"), ("exit", "d"), ("raise", "e"), ("1", "f")]
    start = time.monotonic()
    verdicts = verifier.verify_batch(pairs, workers=1, backend="ray")  # one chunk after another on one task slot
    assert _pairs_of(verdicts) == [(1.0, "ok"), (0.0, "timeout"), (0.0, "mismatch"), (0.0, "runtime_error"),
                                   (0.0, "runtime_error"), (1.0, "ok")]
    assert [v.detail for v in verdicts][2::3] == ["c", "f"]  # the checks after a killed task still ran, in order
    assert time.monotonic() - start < 25  # the hung check was killed, not waited for
    # Cache rules are the local ones: verdicts are cached, timeouts and crashes are not.
    cache = _pool_for(verifier).cache
    assert _cache_key("0", "c") in cache and _cache_key("1", "f") in cache
    assert _cache_key("sleep:30", "b") not in cache and _cache_key("exit", "d") not in cache


def test_trainer_verify_on_ray_matches_local():
    from rlvr.tasks.judge import judge  # the trainer's (and the evaluator's) grouped verify

    code = {"name": "code", "timeout": 20}  # roomy: on a loaded machine loading the code alone can take 2 s
    specs, references = ["math", code, "math"], ["1073", ADD, "0.5"]
    texts = [[r"\boxed{1073}", r"\boxed{1}"], [CODE_PAIRS[0][0], CODE_PAIRS[1][0]], [r"\boxed{1/2}", "no"]]
    assert judge(specs, references, texts, backend="ray") == judge(specs, references, texts)


def test_eval_on_ray_matches_local():
    from rlvr.evaluate import EvalSettings, evaluate
    from rlvr.models import Completion, GenerationResult, SamplingParams
    from rlvr.tasks import Task

    class Scripted:  # an injected fake engine: fixed completions
        def generate(self, prompts, params, progress=None):
            texts = [r"\boxed{4}", "4", r"\boxed{5}", r"\boxed{2+2}"]
            return GenerationResult([[Completion(t, [1], [-0.1], "stop") for t in texts] for _ in prompts],
                                    [[0]] * len(prompts), new_tokens=4, seconds=0.1)

    tasks = [Task(id="t", prompt="What is 2 + 2?", reference="4")]
    runs = [evaluate(Scripted(), tasks, EvalSettings(SamplingParams(n=4), bootstrap_resamples=50,
                                                     verifier_backend=backend),
                     progress=False) for backend in ("ray", "local")]
    assert [s["reason"] for s in runs[0]["samples"]] == [s["reason"] for s in runs[1]["samples"]]
    assert runs[0]["tasks"] == runs[1]["tasks"] and runs[0]["tasks"][0]["passed"] == 1


def test_missing_ray_is_one_config_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'rlvr\[ray\]'"):
        get_verifier("math", isolated=False).verify_batch(MATH_PAIRS, backend="ray")
    from rlvr.verifiers.ray_backend import connect

    with pytest.raises(ConfigError, match="needs the ray package"):
        connect()


def test_unknown_backend_and_config_field():
    from rlvr.train.config import load_config

    with pytest.raises(ConfigError, match="backend must be one of local, ray"):
        get_verifier("math").verify_batch(MATH_PAIRS, backend="spark")  # type: ignore[arg-type]
    config = load_config(None, ["data.verifier_backend=ray", "data.ray_address=ray://head:10001"])
    assert (config.data.verifier_backend, config.data.ray_address) == ("ray", "ray://head:10001")
    with pytest.raises(ConfigError, match="data.verifier_backend"):
        load_config(None, ["data.verifier_backend=spark"])
