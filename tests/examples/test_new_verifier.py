"""docs/extending.md, a new verifier: registered from a file of the user's own, then checking completions."""

from __future__ import annotations

import subprocess
import sys

from doc_examples import run_example


def test_a_verifier_added_from_outside_the_package_checks_and_fails_closed(tmp_path):
    out = run_example("verifier", tmp_path, "yes_no.py")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "Verdict(reward=1.0, reason='ok', detail='')"
    # The same registered name, through the registry and the guard as a task file's verifier would go.
    probe = ("import yes_no; from rlvr.verifiers import get_verifier; v = get_verifier('yes_no'); "
             "print([(d.reward, d.reason) for d in v.verify_batch([('so: No.', 'yes'), ('maybe', 'yes'), "
             "('', 'no'), ('no', 'no')])])")
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ("[(0.0, 'mismatch'), (0.0, 'no_answer'), (0.0, 'no_answer'), (1.0, 'ok')]")
