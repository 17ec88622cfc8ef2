"""The objectives' config keys in the trainer: each non-default key on a tiny model, one step, with its
metrics; the group-reward hook; the reward correction from an audit report; one-sentence config errors."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import torch
import yaml

from conftest import make_tiny_policy, save_tiny_model
from rlvr._errors import ConfigError
from rlvr.models import Completion, GenerationResult
from rlvr.train.config import load_config
from rlvr.train.objectives.group_rewards import GROUP_REWARDS, majority
from rlvr.train.trainer import Trainer, train

HERE = Path(__file__).parent
MISMATCH_KEYS = ["mismatch/ratio_mean", "mismatch/abs_log_ratio", "mismatch/outside_frac", "mismatch/masked_frac"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("objectives")
    save_tiny_model(root / "model")
    tasks = [{"id": f"t{i}", "prompt": f"What is {i} + {i + 1} ?", "reference": str(2 * i + 1),
              "verifier": "rewards_for_tests:even_words"} for i in range(8)]
    (root / "train.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tasks))
    config = {
        "model": str(root / "model"),
        "sampling": {"max_new_tokens": 6, "batch_size": 16},
        "algo": {"group_size": 4},
        "optim": {"lr": 1e-3, "micro_batch": 8},
        "data": {"train": str(root / "train.jsonl"), "prompts_per_step": 3, "verifier_workers": 1,
                 "dynamic_filter": True},  # draws more prompts until groups differ: every step trains
        "run": {"steps": 1, "seed": 3},
        "plugins": ["rewards_for_tests"],  # the task file and data.reward name its functions
    }
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    write_audit_report(root / "audit.json", false_positives=1, must_fail=20, false_negatives=1, must_pass=10)
    return root


@pytest.fixture(autouse=True)
def importable_rewards(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))


def write_audit_report(path: Path, *, false_positives: int, must_fail: int, false_negatives: int,
                       must_pass: int) -> None:
    """An audit report as `rlvr audit --json` writes it: AuditReport.to_json of known cases."""
    from rlvr.audit.cases import AuditCase
    from rlvr.audit.report import AuditReport, CaseResult
    from rlvr.verifiers import Verdict

    def result(should_pass: bool, passed: bool) -> CaseResult:
        verdict = Verdict(1.0, "ok") if passed else Verdict(0.0, "mismatch")
        return CaseResult(AuditCase("x", "1", should_pass), verdict, verdict, 0.001)

    results = ([result(False, i < false_positives) for i in range(must_fail)]
               + [result(True, i >= false_negatives) for i in range(must_pass)])
    report = AuditReport("math", results, serial_s=1.0, parallel_s=1.0, processes=1)
    path.write_text(json.dumps(report.to_json(), indent=1, default=repr))


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def run(setup: Path, out: Path, overrides: list[str]) -> tuple[list[dict], list[dict]]:
    config = load_config(setup / "config.yaml", [f"run.output_dir={out}", *overrides])
    train(config, progress=False)
    return read(out / "metrics.jsonl"), read(out / "samples.jsonl")


# --- every key, one step on a tiny model ---------------------------------------------------------------------

CASES = {
    "gspo": (["algo.ratio_level=sequence", "algo.clip_low=0.0003", "algo.clip_high=0.0004"], []),
    "tis_top_k": (["algo.mismatch=tis", "sampling.top_k=20"], MISMATCH_KEYS),
    "token_mask_top_p": (["algo.mismatch=token_mask", "sampling.top_p=0.9", "algo.mismatch_cap=1.5"], MISMATCH_KEYS),
    "sequence_tis": (["algo.mismatch=sequence_tis"], MISMATCH_KEYS),
    "sequence_mask_two_epochs": (["algo.mismatch=sequence_mask", "algo.ppo_epochs=2"], MISMATCH_KEYS),
    "entropy_bonus": (["algo.entropy_coef=0.01"], ["entropy/mean"]),
    "clip_cov": (["algo.entropy_control=clip_cov", "algo.cov_fraction=0.1", "algo.clip_cov_bounds=[-100, 100]"],
                 ["entropy_control/selected_frac", "entropy_control/candidate_frac"]),
    "kl_cov": (["algo.entropy_control=kl_cov", "algo.cov_fraction=0.1", "algo.kl_cov_coef=2"],
               ["entropy_control/selected_frac", "entropy_control/abs_kl"]),
    "top_entropy": (["algo.top_entropy_fraction=0.2"], ["entropy/trained_frac"]),
    "rloo": (["algo.baseline=rloo", "algo.scale_by_std=false"], []),
    "w_reinforce": (["algo.advantage=w_reinforce", "algo.w_reinforce_weight=0.2"], ["advantage/positive_frac"]),
    # A group with fewer than k wrong samples has advantage 0 under pass@k: K = 8 leaves some signal.
    "pass_at_k": (["algo.advantage=pass_at_k", "algo.pass_k=2", "algo.group_size=8"],
                  ["pass_at_k/group_reward_mean"]),
    "reward_correction": (["data.reward_correction=AUDIT", "algo.scale_by_std=false"], []),
    "forward_correction": (["algo.advantage=forward_correction", "data.reward_correction={false_negative_rate: 0.25}"],
                           ["advantage/positive_frac"]),
    "forward_correction_audit": (["algo.advantage=forward_correction", "data.reward_correction=AUDIT"],
                                 ["advantage/positive_frac"]),
    "token_mask_cap_min": (["algo.mismatch=token_mask", "sampling.top_k=20", "algo.mismatch_cap_min=0.95"],
                           MISMATCH_KEYS),
    # A float32 trainer against a float32 and a bf16 sampler: only the second has a gap to correct.
    "tis_fp32_sampling": (["algo.mismatch=tis", "optim.mixed_precision=fp32"], MISMATCH_KEYS),
    "tis_bf16_sampling": (["algo.mismatch=tis", "sampling.precision=bf16", "optim.mixed_precision=fp32"],
                          MISMATCH_KEYS),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_key_trains_and_logs_its_metrics(setup, tmp_path, case):
    overrides, keys = CASES[case]
    overrides = [o.replace("AUDIT", str(setup / "audit.json")) for o in overrides]
    metrics, samples = run(setup, tmp_path / case, overrides)
    (step,) = metrics
    assert step["rows/trained"] > 0, "the seeded step must train for its metrics to exist"
    for key in ["loss", "clip_frac", "ratio/mean", "grad_norm", *keys]:
        assert key in step and step[key] == step[key], key  # present, not NaN
    assert "kl" not in step  # beta = 0 (the default): no reference model, so no KL is logged
    k = 8 if case == "pass_at_k" else 4
    rewards = torch.tensor([s["reward"] for s in samples]).view(-1, k)  # (G, K) in group order
    advantages = torch.tensor([s["advantage"] for s in samples]).view(-1, k)
    check = CHECKS.get(case)
    if check:
        check(step, rewards, advantages)


def _mismatch_under_truncation(step, rewards, advantages):
    # pi_trainer / pi_sampler = the kept mass of a top-k of 20 tokens (of ~150) < 1; capped, never masked
    assert step["mismatch/ratio_mean"] < 0.9 and step["mismatch/outside_frac"] > 0.5
    assert step["mismatch/masked_frac"] == 0.0
    assert step["ratio/mean"] == pytest.approx(1.0)  # the ratio's old logp are the trainer's own


def _mismatch_without_truncation(step, rewards, advantages):
    assert step["mismatch/ratio_mean"] == pytest.approx(1.0, abs=1e-3) and step["mismatch/outside_frac"] == 0.0


def _no_gap(step, rewards, advantages):  # the same float32 model on both sides: rounding noise only
    assert step["mismatch/abs_log_ratio"] < 1e-6


def _gap_of_a_bf16_sampler(step, rewards, advantages):  # measured 2.5e-4 here against 4e-8 without it
    assert step["mismatch/abs_log_ratio"] > 1e-5


def _rloo(step, rewards, advantages):
    others = (rewards.sum(-1, keepdim=True) - rewards) / 3
    assert torch.allclose(advantages, rewards - others, atol=1e-6)


def _w_reinforce(step, rewards, advantages):
    assert torch.allclose(advantages, torch.where(rewards >= 1, 0.2, -1.0))


def _corrected(step, rewards, advantages):
    # rho0 = 1/20, rho1 = 1/10 from the audit report; without std scaling A = (r - mean r) / (1 - rho0 - rho1)
    expected = (rewards - rewards.mean(-1, keepdim=True)) / (1 - 0.05 - 0.1)
    assert torch.allclose(advantages, expected, atol=1e-6)


def _forward(rho1):
    def check(step, rewards, advantages):  # the observed reward, not backward-corrected; no baseline, no std
        assert torch.allclose(advantages, torch.where(rewards >= 1, rho1, rho1 - 1))
    return check


def _masked_below_cap_min(step, rewards, advantages):
    # pi_trainer / pi_sampler = the kept mass of a top-k of 20 (< 0.9 mostly): below cap_min 0.95, masked
    assert step["mismatch/masked_frac"] > 0.5


def _pass_at_k(step, rewards, advantages):
    from rlvr.train.objectives.formulas import pass_at_k_closed_form

    for group, adv in zip(rewards, advantages):
        _, _, a_pos, a_neg = pass_at_k_closed_form(8, int((group >= 1).sum()), 2)
        assert torch.allclose(adv, torch.where(group >= 1, a_pos, a_neg).float(), atol=1e-6)


CHECKS = {
    "pass_at_k": _pass_at_k,
    "tis_top_k": _mismatch_under_truncation,
    "sequence_tis": _mismatch_without_truncation,
    "rloo": _rloo,
    "w_reinforce": _w_reinforce,
    "reward_correction": _corrected,
    "forward_correction": _forward(0.25),
    "forward_correction_audit": _forward(0.1),
    "token_mask_cap_min": _masked_below_cap_min,
    "tis_bf16_sampling": _gap_of_a_bf16_sampler,
    "tis_fp32_sampling": _no_gap,
}


def test_the_defaults_log_no_new_metrics(setup, tmp_path):
    metrics, _ = run(setup, tmp_path / "plain", [])
    assert not [k for k in metrics[0] if k.startswith(("mismatch/", "entropy/", "entropy_control/", "advantage/"))]


def test_binary_advantages_warn_once_that_partial_credit_counts_as_wrong(setup, tmp_path):
    overrides = ["data.reward=rewards_for_tests:half_credit", "run.steps=2", "algo.advantage=forward_correction",
                 "data.reward_correction={false_negative_rate: 0.1}"]
    with pytest.warns(UserWarning, match=r"partial credit \(e.g. 0.5\), which therefore counts as wrong") as caught:
        _, samples = run(setup, tmp_path / "partial", overrides)
    assert sum("partial credit" in str(w.message) for w in caught) == 1  # once a run, not once a step
    assert {s["reward"] for s in samples} == {0.5, 1.0}
    assert [s["advantage"] for s in samples if s["reward"] == 0.5] == pytest.approx(
        [-0.9] * sum(s["reward"] == 0.5 for s in samples))


def test_grpo_does_not_warn_about_partial_credit(setup, tmp_path, recwarn):
    run(setup, tmp_path / "partial_grpo", ["data.reward=rewards_for_tests:half_credit"])
    assert not [w for w in recwarn if "partial credit" in str(w.message)]


# --- the group-reward hook -------------------------------------------------------------------------------------


def test_majority_reward_through_the_group_hook_with_a_tie(setup, tmp_path, monkeypatch):
    config = load_config(setup / "config.yaml", [f"run.output_dir={tmp_path / 'm'}", "data.group_reward=majority",
                                                 "data.dynamic_filter=false"])
    with pytest.warns(UserWarning, match="confident wrong majority"):
        trainer = Trainer(config, policy=make_tiny_policy(), progress=False)
    groups = [
        ["so 4", "\\boxed{4}", "it is 5", "no idea"],  # majority 4
        ["1", "2", "1", "2"],  # a tie: no consensus, nobody is rewarded
        ["1,000", "1000", "999", "7 then 1000.0"],  # one number written three ways
    ]

    def generate(prompts, params, progress=None):
        completions = [[Completion(text, [5, 6], [-1.0, -1.0], "stop") for text in group] for group in groups]
        return GenerationResult(completions, [[1, 2, 3]] * len(prompts), 2 * 4 * len(prompts), 0.1)

    monkeypatch.setattr(trainer.engine, "generate", generate)
    rollouts, *_ = trainer._collect()
    assert rollouts.rewards.tolist() == [[1.0, 1.0, 0.0, 0.0], [0.0] * 4, [1.0, 1.0, 0.0, 1.0]]
    # The verdicts are still the tasks' verifier's (even_words): pass_rate says whether the majority is right.
    assert [[v.passed for v in g] for g in rollouts.verdicts] == [[len(t.split()) % 2 == 0 for t in g] for g in groups]


def test_majority_run_logs_the_majority_reward(setup, tmp_path):
    with pytest.warns(UserWarning, match="confident wrong majority"):
        _, samples = run(setup, tmp_path / "maj", ["data.group_reward=majority"])
    for task_id in {s["task_id"] for s in samples}:
        group = [s for s in samples if s["task_id"] == task_id]
        assert [s["reward"] for s in group] == majority([s["text"] for s in group], None)


def test_every_group_reward_is_a_config_choice():
    def accepted(name: str) -> bool:  # as data.group_reward
        try:
            load_config(None, [f"data.group_reward={name}"])
        except ConfigError:
            return False
        return True

    get_group_reward = GROUP_REWARDS.build
    choices = [name for name in ("", "majority", "vote", "mean", "none") if accepted(name)]
    assert set(choices) == {""} | set(GROUP_REWARDS)
    with pytest.raises(ConfigError, match="unknown group reward"):
        get_group_reward("vote")


# --- the reward correction's sources -----------------------------------------------------------------------------


def test_reward_correction_reads_an_audit_report_or_the_rates(setup):
    from_file = load_config(setup / "config.yaml", [f"data.reward_correction={setup / 'audit.json'}"])
    assert from_file.correction_rates == (0.05, 0.1)
    given = load_config(None, ["data.reward_correction={false_positive_rate: 0.05, false_negative_rate: 0.1}"])
    assert given.correction_rates == (0.05, 0.1)
    assert load_config(None, []).correction_rates is None


def test_forward_correction_needs_only_the_false_negative_rate(tmp_path):
    forward = "algo.advantage=forward_correction"
    assert load_config(None, [forward, "data.reward_correction={false_negative_rate: 0.2}"]).correction_rates \
        == (None, 0.2)
    write_audit_report(tmp_path / "fn_only.json", false_positives=0, must_fail=0, false_negatives=1, must_pass=4)
    assert load_config(None, [forward, f"data.reward_correction={tmp_path / 'fn_only.json'}"]).correction_rates \
        == (None, 0.25)
    # The backward correction needs both rates, from the same report.
    with pytest.raises(ConfigError, match="cannot measure the false-positive rate"):
        load_config(None, [f"data.reward_correction={tmp_path / 'fn_only.json'}"])


def test_forward_correction_does_not_warn_that_the_correction_cancels(setup, tmp_path, recwarn):
    config = load_config(setup / "config.yaml", [f"run.output_dir={tmp_path / 'f'}",
                                                 "algo.advantage=forward_correction",
                                                 f"data.reward_correction={setup / 'audit.json'}"])
    Trainer(config, policy=make_tiny_policy(), progress=False)
    assert not [w for w in recwarn if "reward_correction" in str(w.message)]


def test_reward_correction_under_std_scaling_warns_that_it_cancels(setup, tmp_path):
    config = load_config(setup / "config.yaml", [f"run.output_dir={tmp_path / 'w'}",
                                                 f"data.reward_correction={setup / 'audit.json'}"])
    with pytest.warns(UserWarning, match="algo.scale_by_std=false"):
        Trainer(config, policy=make_tiny_policy(), progress=False)


# --- config errors: one sentence each, at load --------------------------------------------------------------------


def bad_audits(root: Path) -> dict[str, Path]:
    (root / "not_json.json").write_text("{")
    (root / "other.json").write_text(json.dumps({"summary": {"false_positive_rate": 0.1}}))
    write_audit_report(root / "no_must_fail.json", false_positives=0, must_fail=0, false_negatives=1, must_pass=4)
    write_audit_report(root / "no_must_pass.json", false_positives=1, must_fail=4, false_negatives=0, must_pass=0)
    write_audit_report(root / "useless.json", false_positives=6, must_fail=10, false_negatives=5, must_pass=10)
    return {p.stem: p for p in root.glob("*.json")}


@pytest.mark.parametrize("overrides, message", [
    (["algo.ratio_level=seq"], "'algo.ratio_level' must be one of 'token', 'sequence'"),
    (["algo.mismatch=is"], "'algo.mismatch' must be one of 'none', 'tis', 'token_mask'"),
    (["algo.mismatch_cap=0.5"], "algo.mismatch_cap must be at least 1"),
    (["algo.entropy_coef=-0.1"], "algo.entropy_coef must be >= 0"),
    (["algo.entropy_control=entropy_clip"], "'algo.entropy_control' must be one of 'none', 'clip_cov', 'kl_cov'"),
    (["algo.cov_fraction=0"], "algo.cov_fraction must be in"),
    (["algo.clip_cov_bounds=[5, 1]"], "algo.clip_cov_bounds must be two numbers"),
    (["algo.top_entropy_fraction=0"], "algo.top_entropy_fraction must be in"),
    (["algo.baseline=leave_one_out"], "'algo.baseline' must be one of 'mean', 'median', 'rloo'"),
    (["algo.advantage=ppo"], "'algo.advantage' must be one of 'grpo', 'w_reinforce', 'pass_at_k', "
                             "'forward_correction'"),
    (["algo.advantage=forward_correction"], "give data.reward_correction="),
    (["algo.advantage=forward_correction", "data.reward_correction={false_negative_rate: 1.0}"],
     r"false_negative_rate must lie in \[0, 1\)"),
    (["algo.advantage=forward_correction", "data.reward_correction=no_must_pass"],
     "cannot measure the false-negative rate"),
    (["algo.advantage=w_reinforce", "data.length_penalty=0.1"], "algo.advantage=w_reinforce reads a sample as right"),
    (["algo.mismatch_cap_min=1.5"], r"algo.mismatch_cap_min must be in \[0, 1\]"),
    (["algo.advantage=pass_at_k", "algo.pass_k=9", "algo.group_size=8"], "algo.pass_k must be between 1 and"),
    (["algo.advantage=pass_at_k", "algo.pass_k=0"], "algo.pass_k must be between 1 and"),
    (["algo.advantage=pass_at_k", "algo.pass_k=4", "data.keep_frac=0.25"], r"rollouts kept per group \(2\)"),
    (["algo.w_reinforce_weight=-1"], "algo.w_reinforce_weight must be >= 0"),
    (["data.group_reward=vote"], "'data.group_reward' must be one of '', 'majority'"),
    (["data.reward_correction={false_positive_rate: 0.6, false_negative_rate: 0.5}"], "sum to less than 1"),
    (["data.reward_correction={false_positive_rate: 0.1}"], "needs a number for false_negative_rate"),
    (["data.reward_correction={fpr: 0.1}"], "unknown key 'fpr'"),
    (["data.reward_correction=MISSING"], "cannot read audit report"),
    (["data.reward_correction=not_json"], "is not valid JSON"),
    (["data.reward_correction=other"], "is not an `rlvr audit --json` report"),
    (["data.reward_correction=no_must_fail"], "has no must-fail cases, so it cannot measure the false-positive"),
    (["data.reward_correction=useless"], "sum to less than 1"),
    # numbers that overflow the float32 loss, and a mask window that keeps no token (issue 22)
    (["algo.mismatch_cap=1e39"], r"'algo.mismatch_cap' must lie within \+-3.4e\+38 \(float32's range"),
    (["algo.clip_high=1e39"], r"'algo.clip_high' must lie within \+-3.4e\+38"),
    (["algo.w_reinforce_weight=1e39"], r"'algo.w_reinforce_weight' must lie within \+-3.4e\+38"),
    (["algo.entropy_coef=1e39"], r"'algo.entropy_coef' must lie within \+-3.4e\+38"),
    (["algo.kl_cov_coef=-1e39"], r"'algo.kl_cov_coef' must lie within \+-3.4e\+38"),
    (["optim.lr=1e39"], r"'optim.lr' must lie within \+-3.4e\+38"),
    (["algo.clip_low=nan"], "'algo.clip_low' must be a finite number"),
    (["algo.entropy_coef=inf"], "'algo.entropy_coef' must be a finite number"),
    (["algo.mismatch=token_mask", "algo.mismatch_cap=1", "algo.mismatch_cap_min=1"],
     r"algo.mismatch=token_mask keeps only the tokens whose pi_trainer / pi_sampler lies in .* \[1, 1\]"),
    (["algo.mismatch=sequence_mask", "algo.mismatch_cap=1", "algo.mismatch_cap_min=1"],
     "lower algo.mismatch_cap_min or raise algo.mismatch_cap"),
    (["optim.max_nonfinite_steps=-1"], "optim.max_nonfinite_steps must be at least 0"),
])
def test_config_errors_are_one_sentence(tmp_path, overrides, message):
    audits = bad_audits(tmp_path)
    overrides = [re.sub(r"=(not_json|other|no_must_fail|no_must_pass|useless|MISSING)$",
                        lambda m: f"={audits.get(m.group(1), tmp_path / 'missing.json')}", o) for o in overrides]
    with pytest.raises(ConfigError, match=message) as error:
        load_config(None, overrides)
    text = str(error.value)
    assert text.endswith(".") and not re.search(r"[.;!?]\s+[A-Z]", text.replace(str(tmp_path), "")), text


# --- a model that scales its logits, a window that masks every token, a loss that overflows (issue 22) -----------


def _tiny_granite(logits_scaling: float):
    """The tiny policy's tokenizer with a Granite model of the same sizes, whose logits are divided by
    logits_scaling (the issue's case: the fused head left 5.24 nats a token of mismatch)."""
    from transformers import GraniteConfig, GraniteForCausalLM

    from rlvr.models.loading import Policy

    tiny = make_tiny_policy()
    llama = tiny.model.config
    torch.manual_seed(0)
    config = GraniteConfig(vocab_size=llama.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, pad_token_id=0,
                           bos_token_id=1, eos_token_id=llama.eos_token_id, logits_scaling=logits_scaling)
    return Policy(model=GraniteForCausalLM(config).eval(), tokenizer=tiny.tokenizer, name="tiny-granite",
                  eos_token_ids=tiny.eos_token_ids)


def test_a_model_that_scales_its_logits_trains_on_its_own_log_probs(setup, tmp_path, monkeypatch):
    from rlvr.models import head

    monkeypatch.setattr(head, "LOGIT_TRANSFORMS", {})  # as an architecture the static rule does not know yet
    out = tmp_path / "granite"
    config = load_config(setup / "config.yaml", [f"run.output_dir={out}", "algo.mismatch=tis",
                                                 "optim.mixed_precision=fp32"])
    Trainer(config, policy=_tiny_granite(8.0), progress=False).train()
    # The sampler and the trainer are the same float32 model: no mismatch once the fused head stepped aside.
    assert read(out / "metrics.jsonl")[0]["mismatch/abs_log_ratio"] < 1e-4
    notices = [row for row in read(out / "health.jsonl") if row["rule"] == "fused_head_off"]
    assert len(notices) == 1 and "differ from GraniteForCausalLM's own by" in notices[0]["message"]


def test_a_mask_window_that_masks_every_token_warns_once(setup, tmp_path):
    # A bf16 sampler's log-probs differ from the float32 trainer's at nearly every token; a window of +-1e-6
    # around 1 keeps none of them.
    overrides = ["algo.mismatch=token_mask", "algo.mismatch_cap=1.000001", "algo.mismatch_cap_min=0.999999",
                 "sampling.precision=bf16", "optim.mixed_precision=fp32", "run.steps=2"]
    with pytest.warns(UserWarning, match="masked every token of step 1") as caught:
        metrics, _ = run(setup, tmp_path / "masked", overrides)
    assert metrics[0]["mismatch/masked_frac"] == 1.0
    assert sum("masked every token" in str(w.message) for w in caught) == 1


def test_a_loss_that_overflows_skips_its_updates_then_stops_the_run(setup, tmp_path):
    from safetensors.torch import load_file

    out = tmp_path / "overflow"
    # 1e30 is a float32 number, but its entropy gradient is not: every update's gradient norm is inf.
    config = load_config(setup / "config.yaml", [f"run.output_dir={out}", "algo.entropy_coef=1e30", "run.steps=4",
                                                 "run.checkpoint_every=1", "optim.max_nonfinite_steps=1"])
    with pytest.raises(ConfigError, match=r"not finite at 2 update steps \(the last at step 2\), more than "
                                          r"optim.max_nonfinite_steps=1 allows"):
        train(config, progress=False)
    assert [m["update/nonfinite_steps"] for m in read(out / "metrics.jsonl")] == [1, 2]
    checkpoints = sorted((out / "checkpoints").glob("step-*"))
    assert [c.name for c in checkpoints] == ["step-1"]  # the stopping step saves nothing
    before = load_file(str(setup / "model" / "model.safetensors"))
    for folder in checkpoints:
        weights = load_file(str(folder / "model.safetensors"))
        assert all(bool(torch.isfinite(t).all()) for t in weights.values()), folder
        assert all(torch.equal(weights[k], before[k]) for k in weights)  # the skipped update changed nothing


def test_a_checkpoint_is_never_written_with_weights_that_are_not_finite(tmp_path):
    from rlvr.train.runtime.checkpoint import save_checkpoint
    from rlvr.train.runtime.distributed import Dist
    from rlvr.train.runtime.sharding import Replicated

    policy = make_tiny_policy()
    with torch.no_grad():
        policy.model.model.layers[1].mlp.up_proj.weight[0, 0] = float("inf")
    layout = Replicated(Dist())
    layout.shard(policy.model, None)
    layout.attach(torch.optim.AdamW(policy.model.parameters()), 1.0)
    with pytest.raises(ConfigError, match=r"weights at step 3 are not finite \(model.layers.1.mlp.up_proj.weight\)"):
        save_checkpoint(tmp_path, 3, policy, layout, Dist(), lora=False, keep=2, state={})
    assert not (tmp_path / "checkpoints").exists()


# --- each distinct prompt through the model once (optim.share_prompts, issue 28) -----------------------------------


def test_shared_prompts_train_as_a_forward_pass_per_row_does(setup, tmp_path, monkeypatch):
    import rlvr.train.trainer as trainer_module

    calls = []
    shared = trainer_module.shared_prompt_logprobs
    monkeypatch.setattr(trainer_module, "shared_prompt_logprobs", lambda *a, **k: calls.append(1) or shared(*a, **k))
    common = ["optim.mixed_precision=fp32", "run.steps=2", "optim.micro_batch=6"]  # groups of 4 across micro-batches
    on, samples_on = run(setup, tmp_path / "on", common)
    assert calls, "the shared path never ran"
    calls.clear()
    off, samples_off = run(setup, tmp_path / "off", [*common, "optim.share_prompts=false"])
    assert not calls
    assert [s["text"] for s in samples_on] == [s["text"] for s in samples_off]  # step 2 sampled the same weights
    for a, b in zip(on, off):
        for key in ("loss", "grad_norm", "clip_frac", "ratio/mean"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key


def test_a_decoder_the_first_batch_check_refuses_trains_each_row_whole(setup, tmp_path, monkeypatch):
    import rlvr.train.trainer as trainer_module

    monkeypatch.setattr(trainer_module, "shared_prompt_mismatch", lambda *a, **k: "its log-probs differ (a test)")
    monkeypatch.setattr(trainer_module, "shared_prompt_logprobs", lambda *a, **k: pytest.fail("shared after a refusal"))
    out = tmp_path / "refused"
    metrics, _ = run(setup, out, ["run.steps=2"])
    assert all(m["rows/trained"] > 0 for m in metrics)
    notices = [row for row in read(out / "health.jsonl") if row["rule"] == "share_prompts_off"]
    assert len(notices) == 1
    assert "optim.share_prompts is off for this run: its log-probs differ" in notices[0]["message"]


@pytest.mark.parametrize("aggregation", ["token_mean", "seq_mean"])
def test_planned_micro_batches_train_as_fixed_ones_do(setup, tmp_path, monkeypatch, aggregation):
    """optim.bucket_by_length cuts the batch into micro-batches of any size up to optim.micro_batch, in another
    order; the loss weights (tokens or rows of the whole batch) make the gradient the same as fixed, untrimmed
    micro-batches of the (group, sample) order give."""
    import rlvr.train.trainer as trainer_module

    plans = []
    bucketed = trainer_module.bucketed

    def spy(rollouts, rows, size, shared):
        order, micros = bucketed(rollouts, rows, size, shared)
        plans.append((order != rows, [m.stop - m.start for m in micros], size))
        return order, micros

    monkeypatch.setattr(trainer_module, "bucketed", spy)
    common = ["optim.mixed_precision=fp32", "run.steps=2", "optim.micro_batch=3", f"algo.aggregation={aggregation}"]
    on, samples_on = run(setup, tmp_path / "on", common)
    # the rows ran in another order, or in micro-batches of other sizes than fixed ones of 3 rows would be
    assert any(moved or sizes[:-1] != [size] * (len(sizes) - 1) for moved, sizes, size in plans), plans
    off, samples_off = run(setup, tmp_path / "off", [*common, "optim.bucket_by_length=false"])
    assert [s["text"] for s in samples_on] == [s["text"] for s in samples_off]  # step 2 sampled the same weights
    for a, b in zip(on, off):
        for key in ("loss", "grad_norm", "clip_frac", "ratio/mean"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key
