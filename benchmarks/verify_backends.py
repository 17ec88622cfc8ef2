"""Code-check throughput of the local backends against the Ray backend, in the same run.

    python benchmarks/verify_backends.py [--checks 1000] [--workers 2] [--rounds 2]

`--checks` code checks in the cases form, over four small problems, half of the candidates
right and half wrong (a wrong value, an exception, a syntax error), each text distinct (a
numbered comment), so the verdict cache never hits. Each is checked by:

- threads: `CodeVerifier()`, isolated=False, the default (each check is its own sandbox);
- pool:    `CodeVerifier(isolated=True)`, the local worker-process pool;
- ray:     `CodeVerifier()` with backend="ray" on a local Ray instance of `--workers` CPUs,

all with `--workers` workers. Start-up (Ray itself, its workers, the pool's processes) is
paid in a warm-up before the clock starts. The checks are split into `--rounds` rounds that
alternate between the backends, so load from other processes hits all of them alike. Prints
checks/s of each, the ratio Ray/pool and Ray/threads, and asserts that all three gave the
same verdicts.
"""

from __future__ import annotations

import argparse
import os
import time

import ray

from rlvr.verifiers.code import CodeVerifier
from rlvr.verifiers.ray_backend import connect

PROBLEMS = {
    "add": ({"entry_point": "add", "cases": [{"args": [2, 3], "expected": 5}, {"args": [-1, 1], "expected": 0}]},
            ["def add(a, b):\n    return a + b\n", "def add(a, b):\n    return a - b\n"]),
    "biggest": ({"entry_point": "biggest",
                 "cases": [{"args": [[3, 9, 2]], "expected": 9}, {"args": [[-4]], "expected": -4}]},
                ["def biggest(xs):\n    return max(xs)\n", "def biggest(xs):\n    return xs[0]\n"]),
    "rev": ({"entry_point": "rev", "cases": [{"args": ["abc"], "expected": "cba"}, {"args": [""], "expected": ""}]},
            ["def rev(s):\n    return s[::-1]\n", "def rev(s):\n    return s[5]\n"]),
    "fib": ({"entry_point": "fib", "cases": [{"args": [10], "expected": 55}, {"args": [1], "expected": 1}]},
            ["def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
             "def fib(n)\n    return n\n"]),
}


def make_pairs(n: int, tag: str) -> list[tuple[str, dict]]:
    """n distinct (completion, reference) pairs: problems in turn, right and wrong in turn."""
    names = list(PROBLEMS)
    pairs = []
    for i in range(n):
        reference, candidates = PROBLEMS[names[i % len(names)]]
        code = candidates[(i // len(names)) % 2]
        pairs.append((f"```python\n# {tag} candidate {i}\n{code}```", reference))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=1000, help="checks per backend (default 1000)")
    parser.add_argument("--workers", type=int, default=2, help="workers of every backend (default 2)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (default 2)")
    args = parser.parse_args()

    threads, pool = CodeVerifier(), CodeVerifier(isolated=True)
    backends = {
        "threads": lambda pairs: threads.verify_batch(pairs, workers=args.workers),
        "pool": lambda pairs: pool.verify_batch(pairs, workers=args.workers),
        "ray": lambda pairs: threads.verify_batch(pairs, workers=args.workers, backend="ray"),
    }
    start = time.perf_counter()
    connect(num_cpus=args.workers)
    print(f"ray {ray.__version__}: local instance with {args.workers} CPUs started in "
          f"{time.perf_counter() - start:.1f} s; sandbox {threads._sandbox.kind}; "
          f"{os.cpu_count()} CPUs here", flush=True)
    for name, run in backends.items():  # warm-up: worker processes start and import outside the clock
        run(make_pairs(4 * args.workers, f"warm-up {name}"))

    seconds = dict.fromkeys(backends, 0.0)
    verdicts: dict[str, list] = {name: [] for name in backends}
    per_round = args.checks // args.rounds
    for r in range(args.rounds):
        for name, run in backends.items():
            # The same problems and candidates for every backend, but distinct texts: no cache hits.
            pairs = make_pairs(args.checks, name)[r * per_round : (r + 1) * per_round]
            t0 = time.perf_counter()
            verdicts[name] += run(pairs)
            seconds[name] += time.perf_counter() - t0
            print(f"  round {r + 1}/{args.rounds} {name:<8} {len(pairs)} checks in {time.perf_counter() - t0:.1f} s",
                  flush=True)

    outcomes = {name: [(v.reward, v.reason) for v in vs] for name, vs in verdicts.items()}
    assert outcomes["threads"] == outcomes["pool"] == outcomes["ray"], "backends disagree"
    passed = sum(v.passed for v in verdicts["ray"])
    rate = {name: len(verdicts[name]) / seconds[name] for name in backends}
    print(f"\n{len(verdicts['ray'])} checks per backend ({passed} pass), {args.workers} workers each:")
    for name in backends:
        print(f"  {name:<8} {rate[name]:7.1f} checks/s  ({seconds[name]:.1f} s)")
    print(f"  ray/pool    {rate['ray'] / rate['pool']:.2f}")
    print(f"  ray/threads {rate['ray'] / rate['threads']:.2f}")
    ray.shutdown()


if __name__ == "__main__":
    main()
