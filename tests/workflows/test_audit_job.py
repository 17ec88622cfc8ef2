"""`rlvr audit` as a function: an AuditJob audited from Python, with no command line, as the CLI runs it."""

from __future__ import annotations

import json

import pytest

from rlvr._errors import ConfigError
from rlvr.workflows import AuditJob, audit_verifier


def test_an_audit_job_runs_from_python_and_writes_its_report(tmp_path, capsys):
    cases = tmp_path / "cases.jsonl"
    cases.write_text("".join(json.dumps({"completion": f"\\boxed{{{i}}}", "reference": "1", "should_pass": i == 1})
                             + "\n" for i in range(4)))
    out = tmp_path / "audit.json"
    report = audit_verifier(AuditJob("format", cases=(str(cases),), json=str(out), processes=1), progress=False)
    assert report.summary()["sources"] == {"cases.jsonl": 4}
    assert json.loads(out.read_text())["summary"]["coverage"] == report.summary()["coverage"]
    assert f"wrote {out}" in capsys.readouterr().out


@pytest.mark.parametrize("job, message", [
    (AuditJob("format"), "nothing to audit 'format' with"),
    (AuditJob("math", min_coverage=1.5), "--min-coverage must be between 0 and 1"),
    (AuditJob("math", eval="eval.json"), "--eval and --checker go together"),
])
def test_a_bad_job_fails_in_one_sentence_before_any_case_runs(job, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=message):
        audit_verifier(job)
    assert list(tmp_path.iterdir()) == []
