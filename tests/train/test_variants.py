"""The update's choices as registered option objects (rlvr/train/objectives/variants.py): one registry per kind, one
definition and one default of every option, the old flat keys mapped onto the same objects with one
deprecation sentence, one-sentence errors, every config key documented (the help and the README's reference
generated from the definitions), and the losses and advantages of every variant bit for bit those of the code
before the variants (recorded from it on fixed tensors)."""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from rlvr._errors import ConfigError
from rlvr.train.objectives import formulas as objectives
from rlvr.config import config_keys, option
from rlvr.train.config import FLAT_KEYS, AlgoSection, TrainConfig, config_help, load_config, reference
from rlvr.train.objectives.group_rewards import GROUP_REWARDS
from rlvr.train.objectives.grpo import estimate_advantages, grpo_loss
from rlvr.train.objectives.variants import (
    ADVANTAGES,
    ENTROPY_CONTROLS,
    MISMATCH_MODES,
    RATIO_LEVELS,
    AdvantageEstimator,
)

REGISTRIES = {"algo.advantage": ADVANTAGES, "algo.ratio_level": RATIO_LEVELS, "algo.mismatch": MISMATCH_MODES,
              "algo.entropy_control": ENTROPY_CONTROLS, "data.group_reward": GROUP_REWARDS}
README = Path(__file__).resolve().parents[2] / "README.md"


# --- one registry per kind; each name one definition, each option one default -------------------------------


def test_one_registry_per_kind_and_each_name_one_definition():
    seen: dict[type, str] = {}
    for key, registry in REGISTRIES.items():
        assert registry.base.key == key and len(registry) >= 1
        for name, cls in registry.items():
            assert issubclass(cls, registry.base) and cls.name == name
            assert cls not in seen, f"{cls.__name__} is registered as {seen[cls]} and {key}: {name}"
            seen[cls] = f"{key}: {name}"
    bases = [registry.base for registry in REGISTRIES.values()]
    assert len(set(bases)) == len(bases)


def test_a_name_cannot_be_registered_twice():
    with pytest.raises(ValueError, match="advantage estimator 'grpo' is already registered"):
        @ADVANTAGES.register("grpo")
        @dataclasses.dataclass(frozen=True)
        class Other(AdvantageEstimator):
            pass
    assert ADVANTAGES["grpo"].__name__ == "Grpo"
    with pytest.raises(TypeError, match="frozen dataclass"):
        ADVANTAGES.register("plain_class")(type("Plain", (AdvantageEstimator,), {}))


def test_each_option_has_one_default_written_once():
    """Every option's default is written in one class (shared options are inherited, never repeated), and no
    formula or loss function carries a default of its own for a variant's option or an algo key."""
    for registry in REGISTRIES.values():
        for cls in registry.values():
            for f in dataclasses.fields(cls):
                assert f.metadata.get("help"), f"{cls.name}.{f.name} has no help"
                defined = [c for c in cls.__mro__ if f.name in c.__dict__.get("__annotations__", {})]
                assert len(defined) == 1, f"{cls.name}.{f.name} is declared in {defined}"
    options = {f.name for r in REGISTRIES.values() for c in r.values() for f in dataclasses.fields(c)}
    options |= {f.name for f in dataclasses.fields(AlgoSection)}
    for name, function in inspect.getmembers(objectives, inspect.isfunction):
        defaults = {p for p, v in inspect.signature(function).parameters.items() if v.default is not v.empty}
        assert not defaults & options, f"objectives.{name} has defaults for {defaults & options}"
    plain = AlgoSection()
    for p in inspect.signature(grpo_loss).parameters.values():  # the loss's defaults are the config's
        if p.name in {f.name for f in dataclasses.fields(AlgoSection)}:
            assert p.default == getattr(plain, p.name), p.name


def test_the_algo_variant_keys_default_to_plain_grpo_objects():
    algo = load_config(None, []).algo
    assert [v.spec() for v in (algo.advantage, algo.ratio_level, algo.mismatch, algo.entropy_control)] == [
        {"name": "grpo", "baseline": "mean", "scale_by_std": True}, "token", "none", "none"]
    assert AlgoSection(advantage="pass_at_k").advantage == ADVANTAGES["pass_at_k"](k=4)  # a name in Python too


# --- the config: the new form, overrides, the old flat keys ---------------------------------------------------


def test_the_new_form_from_yaml_and_from_overrides(tmp_path):
    (tmp_path / "c.yaml").write_text("algo:\n  advantage: {name: pass_at_k, k: 2}\n  mismatch: tis\n")
    from_file = load_config(tmp_path / "c.yaml")
    from_overrides = load_config(None, ["algo.advantage=pass_at_k", "algo.advantage.k=2", "algo.mismatch=tis"])
    assert from_file == from_overrides
    assert from_file.algo.advantage == ADVANTAGES["pass_at_k"](k=2) and from_file.algo.mismatch.cap == 3.0
    assert from_file.to_dict()["algo"]["advantage"] == {"name": "pass_at_k", "k": 2}
    # an option alone is the default variant's; a YAML 1.1 "2e-1" is a float, as for any key
    assert load_config(None, ["algo.advantage.baseline=rloo"]).algo.advantage == ADVANTAGES["grpo"](baseline="rloo")
    assert load_config(None, ["algo.entropy_control={name: kl_cov, kl_coef: 2e-1}"]).algo.entropy_control.kl_coef \
        == 0.2
    # an option before the name keeps it (the name joins the mapping)
    assert load_config(None, ["algo.advantage.k=2", "algo.advantage=pass_at_k"]).algo == from_overrides.algo.__class__(
        advantage=ADVANTAGES["pass_at_k"](k=2))


# old flat key -> (the variant chosen alongside it, the new form it means)
FLAT = {
    "baseline": (["algo.baseline=rloo"], "algo.advantage={name: grpo, baseline: rloo}"),
    "scale_by_std": (["algo.scale_by_std=false"], "algo.advantage={name: grpo, scale_by_std: false}"),
    "w_reinforce_weight": (["algo.advantage=w_reinforce", "algo.w_reinforce_weight=0.3"],
                           "algo.advantage={name: w_reinforce, positive_weight: 0.3}"),
    "pass_k": (["algo.advantage=pass_at_k", "algo.pass_k=2"], "algo.advantage={name: pass_at_k, k: 2}"),
    "mismatch_cap": (["algo.mismatch=token_mask", "algo.mismatch_cap=1.5"],
                     "algo.mismatch={name: token_mask, cap: 1.5}"),
    "mismatch_cap_min": (["algo.mismatch=tis", "algo.mismatch_cap_min=0.5"], "algo.mismatch={name: tis, cap_min: 0.5}"),
    "cov_fraction": (["algo.entropy_control=kl_cov", "algo.cov_fraction=0.1"],
                     "algo.entropy_control={name: kl_cov, cov_fraction: 0.1}"),
    "clip_cov_bounds": (["algo.entropy_control=clip_cov", "algo.clip_cov_bounds=[-3, 3]"],
                        "algo.entropy_control={name: clip_cov, cov_bounds: [-3, 3]}"),
    "kl_cov_coef": (["algo.entropy_control=kl_cov", "algo.kl_cov_coef=2"],
                    "algo.entropy_control={name: kl_cov, kl_coef: 2}"),
}


@pytest.mark.parametrize("old_key", list(FLAT))
def test_an_old_flat_key_maps_to_the_same_object_with_one_deprecation_sentence(old_key):
    old, new = FLAT[old_key]
    with pytest.warns(FutureWarning) as caught:
        config = load_config(None, old)
    (warning,) = [str(w.message) for w in caught if issubclass(w.category, FutureWarning)]
    variant_key, option_name = FLAT_KEYS[old_key]
    assert f"'algo.{old_key}' is deprecated: write algo.{variant_key}: {{name: " in warning
    assert f"algo.{variant_key}.{option_name}=" in warning  # the override form too
    assert warning.endswith(".") and not re.search(r"[.;!?]\s+[A-Z]", warning)  # one sentence
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new form warns of nothing
        assert config == load_config(None, [new])


def test_an_old_key_whose_variant_is_not_chosen_is_checked_and_has_no_effect():
    with pytest.warns(FutureWarning, match="'algo.pass_k' has no effect with algo.advantage=grpo .it is an option "
                                           r"of algo.advantage: \{name: pass_at_k, k: 2\}"):
        config = load_config(None, ["algo.pass_k=2"])
    assert config == load_config(None, [])
    with pytest.raises(ConfigError, match=r"algo.pass_k must be between 1 and"):
        load_config(None, ["algo.pass_k=0"])
    with pytest.raises(ConfigError, match="both set k"):
        load_config(None, ["algo.advantage={name: pass_at_k, k: 2}", "algo.pass_k=3"])


def test_an_old_run_config_loads_with_one_warning_for_all_its_flat_keys(tmp_path):
    old = {"algo": {"group_size": 4, "advantage": "grpo", "baseline": "mean", "scale_by_std": True,
                    "w_reinforce_weight": 0.1, "pass_k": 4, "mismatch": "none", "mismatch_cap": 3.0,
                    "mismatch_cap_min": 0.0, "entropy_control": "none", "cov_fraction": 0.0002,
                    "clip_cov_bounds": [1.0, 5.0], "kl_cov_coef": 1.0, "ratio_level": "token"}}
    (tmp_path / "config.yaml").write_text(json.dumps(old))  # as the runs before the variants wrote it
    with pytest.warns(FutureWarning) as caught:
        config = load_config(tmp_path / "config.yaml")
    assert len([w for w in caught if issubclass(w.category, FutureWarning)]) == 1
    assert config == load_config(None, ["algo.group_size=4"])


@pytest.mark.parametrize("overrides, message", [
    (["algo.advantage=ppo"], "config key 'algo.advantage' must be one of 'grpo', 'w_reinforce', 'pass_at_k', "
                             "'forward_correction', or a mapping"),
    (["algo.advantage={name: grpo, k: 2}"], "algo.advantage=grpo has no option 'k'; its options are baseline, "
                                            "scale_by_std"),
    (["algo.ratio_level={name: token, cap: 2}"], "algo.ratio_level=token has no option 'cap'; it takes none"),
    (["algo.advantage=pass_at_k", "algo.advantage.k=two"], "config key 'algo.advantage.k' must be int, got 'two'"),
    (["algo.advantage=w_reinforce", "algo.advantage.positive_weight=-0.5"],
     r"algo.advantage.positive_weight must be >= 0, got -0.5"),
    (["algo.mismatch=tis", "algo.mismatch.cap=0.5"], r"algo.mismatch.cap must be at least 1 \(it caps"),
    (["algo.mismatch=tis", "algo.mismatch.cap=1e39"], r"'algo.mismatch.cap' must lie within \+-3.4e\+38"),
    (["algo.entropy_control=clip_cov", "algo.entropy_control.cov_fraction=0"],
     r"algo.entropy_control.cov_fraction must be in \(0, 1\], got 0.0"),
    (["algo.entropy_control=clip_cov", "algo.entropy_control.cov_bounds=[3, 3]"],
     r"algo.entropy_control.cov_bounds must be two numbers \[low, high\] with low < high"),
    (["algo.advantage=grpo", "algo.advantage.scale_by_std=1"], "'algo.advantage.scale_by_std' must be bool"),
    (["data.group_reward={name: majority, weight: 2}"], "data.group_reward=majority has no option 'weight'"),
])
def test_a_bad_option_is_a_one_sentence_config_error(overrides, message):
    with pytest.raises(ConfigError, match=message) as error:
        load_config(None, overrides)
    text = str(error.value)
    assert text.endswith(".") and not re.search(r"[.;!?]\s+[A-Z]", text), text


@pytest.mark.parametrize("options, error", [
    (["algo.advantage={name: pass_at_k, k: 0}"], "algo.advantage.k must be between 1 and the rollouts kept per "
                                                 "group, got 0."),
    # an old flat key: the error names it as written, and no deprecation warning joins the one sentence
    (["algo.mismatch=tis", "algo.mismatch_cap=0.5"], "algo.mismatch_cap must be at least 1 (it caps pi_trainer / "
                                                     "pi_sampler, which is 1 where the two agree), got 0.5."),
])
def test_a_bad_option_exits_2_in_one_sentence_before_any_model_loads(options, error):
    out = subprocess.run([sys.executable, "-m", "rlvr.cli", "train", "model=/nonexistent", "data.train=x.jsonl",
                          *options], capture_output=True, text=True, timeout=300)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [f"rlvr: error: {error}"]


# --- every key documented; the help and the README generated from the definitions ------------------------------


def test_every_config_key_is_documented():
    undocumented = [key for key, f, _ in config_keys(TrainConfig) if not f.metadata.get("help")]
    assert undocumented == []
    assert len(config_keys(TrainConfig)) >= 60  # every section's keys, not only some


def test_an_undocumented_key_fails_the_check():
    @dataclasses.dataclass(frozen=True)
    class Section:
        documented: int = option(1, "a key with a meaning")
        bare: int = 2

    @dataclasses.dataclass(frozen=True)
    class Config:
        section: Section = dataclasses.field(default_factory=Section)

    assert [key for key, f, _ in config_keys(Config) if not f.metadata.get("help")] == ["section.bare"]


def test_each_documented_range_is_the_one_the_config_enforces():
    """A value just outside a key's documented range is refused (the help cannot promise what is not checked)."""
    checked = 0
    for key, f, default in config_keys(TrainConfig):
        bounds = f.metadata.get("range")
        if bounds is None or key == "optim.lr":  # lr > 0: the smallest positive float is no useful probe
            continue
        outside = [v for v in (bounds.low if bounds.low_open else None if bounds.low is None else bounds.low - 1,
                               bounds.high if bounds.high_open else None if bounds.high is None else bounds.high + 1)
                   if v is not None]
        for value in outside:
            value = int(value) if isinstance(default, int) else value
            with pytest.raises(ConfigError):
                load_config(None, [f"{key}={value}", "data.keep_frac=1"] if key != "data.keep_frac" else
                            [f"{key}={value}"])
            checked += 1
    assert checked >= 15


def test_train_help_lists_every_key_with_its_default_and_meaning():
    out = subprocess.run([sys.executable, "-m", "rlvr.cli", "train", "--help"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0
    help_text = out.stdout
    for key, f, _ in config_keys(TrainConfig):
        assert re.search(rf"^  {re.escape(key)} = .*  # {re.escape(f.metadata['help'][:40])}", help_text, re.M), key
    for registry in REGISTRIES.values():  # and every variant with its options
        for line in registry.describe():
            assert line in help_text, line
    assert config_help() in help_text


def test_the_readme_configuration_reference_is_the_generated_one():
    text = README.read_text(encoding="utf-8")
    start = text.index("## Configuration reference\n")
    end = text.index("\n## ", start + 1)  # the blank line before the next section
    assert text[start:end] == reference(), "regenerate it: python -m rlvr.train.config --reference"


# --- bit for bit the code before the variants ---------------------------------------------------------------------

# Recorded from the code before the variants (commit 6211904: grpo.estimate_advantages with its option
# keywords, objectives.MISMATCH, grpo_loss's entropy_control/control_options) on the tensors below: the advantages
# as a digest of their exact values; the losses as numbers compared to 1e-9 (relative). Their float64 results
# differ in the last bits from one CPU to another (the recorded digests of the exact gradients held on a 2-core
# AMD EPYC and failed on a 2-core Intel Xeon: a loss 7e-15 apart), so each loss's record is its value, its
# gradient's and weights' sum, sum of squares and position-weighted sum, and its metrics, taken on the Intel host
# after checking every loss against the AMD record (within 1e-12).
ADVANTAGES_BEFORE = {  # case: digest of the advantages and their metrics
    "grpo": "8b197f61935d62c4",
    "grpo_median_noscale": "9ec62270bd31754f",
    "grpo_rloo": "d6f7f9a4f56b7bda",
    "grpo_rloo_noscale": "03d88b699a2acf21",
    "w_reinforce": "a83cd7d7a742975c",
    "w_reinforce_0.3": "1827de7dcc6cc3f5",
    "pass_at_k": "5645dbd6298e0643",
    "pass_at_k_2": "a201c22cab5f13e4",
    "pass_at_k_1": "2168886099fc91bb",
    "forward_correction_0.1": "a3fda55e2d0afe08",
    "forward_correction_0.25": "004101ccce5369b3",
}
LOSSES_BEFORE = {  # mismatch mode/case: (loss, the gradient's and the weights' sums, the metrics)
    'no_weights/plain': (-0.29460146593787817,
        [-0.153424995349643, 0.024479531905252656, -5.141131345761812],
        None,
        {'clip_frac': 0.14705882352941177, 'kl': 0.0, 'loss': -0.29460146593787817, 'ratio/mean': 0.9885931386777966}),
    'no_weights/gspo': (-0.2465749291719186,
        [-0.16314992917191873, 0.019324266427466492, -7.538812805607379],
        None,
        {'clip_frac': 0.17647058823529413, 'kl': 0.0, 'loss': -0.2465749291719186, 'ratio/mean': 0.9678459056516706}),
    'no_weights/clip_cov': (-0.20771376813328513,
        [-0.0665372975450498, 0.019071968942833556, -3.9057033654817936],
        None,
        {'clip_frac': 0.14705882352941177, 'entropy_control/candidate_frac': 0.8529411764705882,
         'entropy_control/selected_frac': 0.17647058823529413, 'kl': 0.0, 'loss': -0.20771376813328513,
         'ratio/mean': 0.9885931386777966}),
    'no_weights/clip_cov_default': (-0.29460146593787817,
        [-0.153424995349643, 0.024479531905252656, -5.141131345761812],
        None,
        {'clip_frac': 0.14705882352941177, 'entropy_control/candidate_frac': 0.0,
         'entropy_control/selected_frac': 0.0, 'kl': 0.0, 'loss': -0.29460146593787817,
         'ratio/mean': 0.9885931386777966}),
    'no_weights/kl_cov': (-0.2713464373392303,
        [-0.24733638122876583, 0.03013041631660545, -6.760148308077808],
        None,
        {'clip_frac': 0.14705882352941177, 'entropy_control/abs_kl': 0.2256203396640835,
         'entropy_control/selected_frac': 0.08823529411764706, 'kl': 0.0, 'loss': -0.2713464373392303,
         'ratio/mean': 0.9885931386777966}),
    'no_weights/kl_cov_default': (-0.30068035482575484,
        [-0.27674814593464825, 0.03317239521507492, -8.466030661018983],
        None,
        {'clip_frac': 0.14705882352941177, 'entropy_control/abs_kl': 0.2256203396640835,
         'entropy_control/selected_frac': 0.029411764705882353, 'kl': 0.0, 'loss': -0.30068035482575484,
         'ratio/mean': 0.9885931386777966}),
    'no_weights/gspo_clip_cov': (-0.09728123791934103,
        [-0.12081064968404688, 0.013357262502771586, -4.688324592755934],
        None,
        {'clip_frac': 0.058823529411764705, 'entropy_control/candidate_frac': 0.9411764705882353,
         'entropy_control/selected_frac': 0.29411764705882354, 'kl': 0.0, 'loss': -0.09728123791934103,
         'ratio/mean': 0.9678459056516706}),
    'no_weights/entropy_bonus': (-0.3001418436115345,
        [-0.153424995349643, 0.024479531905252656, -5.141131345761812],
        None,
        {'clip_frac': 0.14705882352941177, 'entropy/mean': 0.554037767365632, 'kl': 0.0,
         'loss': -0.3001418436115345, 'ratio/mean': 0.9885931386777966}),
    'no_weights/top_entropy': (-0.09038598777319218,
        [-0.019797752479074532, 0.007564702152425493, -2.0919981855725536],
        None,
        {'clip_frac': 0.14705882352941177, 'entropy/trained_frac': 0.20588235294117646, 'kl': 0.0,
         'loss': -0.09038598777319218, 'ratio/mean': 0.9885931386777966}),
    'no_weights/kl_ref': (-0.29608686848778154,
        [-0.2983897886840322, 0.03469455062533582, -9.878805412489104],
        None,
        {'clip_frac': 0.08823529411764706, 'kl': 0.039781280863961765, 'loss': -0.29608686848778154,
         'ratio/mean': 0.9885931386777966}),
    'no_weights/constant_norm': (-0.1854898118868122,
        [-0.09660092299792335, 0.009704505789599475, -3.2370086251092887],
        None,
        {'clip_frac': 0.14705882352941177, 'kl': 0.0, 'loss': -0.1854898118868122, 'ratio/mean': 0.9885931386777966}),
    'none/plain': (-0.29460146593787817,
        [-0.153424995349643, 0.024479531905252656, -5.141131345761812],
        [42.0, 42.0, 903.0],
        {'clip_frac': 0.14705882352941177, 'kl': 0.0, 'loss': -0.29460146593787817,
         'mismatch/abs_log_ratio': 0.1893894992449559, 'mismatch/masked_frac': 0.0,
         'mismatch/outside_frac': 0.7647058823529411, 'mismatch/ratio_mean': 1.1042993382475974,
         'ratio/mean': 0.9885931386777966}),
    'none/gspo': (-0.2465749291719186,
        [-0.16314992917191873, 0.019324266427466492, -7.538812805607379],
        [42.0, 42.0, 903.0],
        {'clip_frac': 0.17647058823529413, 'kl': 0.0, 'loss': -0.2465749291719186,
         'mismatch/abs_log_ratio': 0.1893894992449559, 'mismatch/masked_frac': 0.0,
         'mismatch/outside_frac': 0.7647058823529411, 'mismatch/ratio_mean': 1.1042993382475974,
         'ratio/mean': 0.9678459056516706}),
    'none/clip_cov': (-0.20771376813328513,
        [-0.0665372975450498, 0.019071968942833556, -3.9057033654817936],
        [42.0, 42.0, 903.0],
        {'clip_frac': 0.14705882352941177, 'entropy_control/candidate_frac': 0.8529411764705882,
         'entropy_control/selected_frac': 0.17647058823529413, 'kl': 0.0, 'loss': -0.20771376813328513,
         'mismatch/abs_log_ratio': 0.1893894992449559, 'mismatch/masked_frac': 0.0,
         'mismatch/outside_frac': 0.7647058823529411, 'mismatch/ratio_mean': 1.1042993382475974,
         'ratio/mean': 0.9885931386777966}),
    'tis/plain': (-0.32064461682779744,
        [-0.15071438821111846, 0.031097777295657922, -4.974826039804457],
        [45.54617750041831, 50.95797338341421, 971.2418222389272],
        {'clip_frac': 0.14705882352941177, 'kl': 0.0, 'loss': -0.32064461682779744,
         'mismatch/abs_log_ratio': 0.1893894992449559, 'mismatch/masked_frac': 0.0,
         'mismatch/outside_frac': 0.7647058823529411, 'mismatch/ratio_mean': 1.1042993382475974,
         'ratio/mean': 0.9885931386777966}),
    'tis/gspo': (-0.2718731783144989,
        [-0.1526861629627658, 0.023810337312324917, -7.833979553157548],
        [45.54617750041831, 50.95797338341421, 971.2418222389272],
        {'clip_frac': 0.17647058823529413, 'kl': 0.0, 'loss': -0.2718731783144989,
         'mismatch/abs_log_ratio': 0.1893894992449559, 'mismatch/masked_frac': 0.0,
         'mismatch/outside_frac': 0.7647058823529411, 'mismatch/ratio_mean': 1.1042993382475974,
         'ratio/mean': 0.9678459056516706}),
    'tis/clip_cov': (-0.23060615073042806,
        [-0.06067592211374903, 0.024570827013651108, -4.119137436087437],
        [45.54617750041831, 50.95797338341421, 971.2418222389272],
        {'clip_frac': 0.14705882352941177, 'entropy_control/candidate_frac': 0.8529411764705882,
         'entropy_control/selected_frac': 0.17647058823529413, 'kl': 0.0, 'loss': -0.23060615073042806,
         'mismatch/abs_log_ratio': 0.1893894992449559, 'mismatch/masked_frac': 0.0,
         'mismatch/outside_frac': 0.7647058823529411, 'mismatch/ratio_mean': 1.1042993382475974,
         'ratio/mean': 0.9885931386777966}),
    'tis_2/plain': (-0.30076962924257405,
        [-0.1451898509162135, 0.025689402368558018, -4.819383578830579],
        [43.2512280017597, 44.78512579784236, 928.8056346468752],
        {'clip_frac': 0.14705882352941177, 'kl': 0.0, 'loss': -0.30076962924257405,
         'mismatch/abs_log_ratio': 0.1893894992449559, 'mismatch/masked_frac': 0.0,
         'mismatch/outside_frac': 0.7647058823529411, 'mismatch/ratio_mean': 1.1042993382475974,
         'ratio/mean': 0.9885931386777966}),
    'tis_2/gspo': (-0.24942518652775544,
        [-0.15621102334669063, 0.0205852651198435, -7.53478999801686],
        [43.2512280017597, 44.78512579784236, 928.8056346468752],
        {'clip_frac': 0.17647058823529413, 'kl': 0.0, 'loss': -0.24942518652775544,
         'mismatch/abs_log_ratio': 0.1893894992449559, 'mismatch/masked_frac': 0.0,
         'mismatch/outside_frac': 0.7647058823529411, 'mismatch/ratio_mean': 1.1042993382475974,
         'ratio/mean': 0.9678459056516706}),
    'tis_2/clip_cov': (-0.2168043950860426,
        [-0.06122461675968209, 0.020136232620623692, -3.8161115372481866],
        [43.2512280017597, 44.78512579784236, 928.8056346468752],
        {'clip_frac': 0.14705882352941177, 'entropy_control/candidate_frac': 0.8529411764705882,
         'entropy_control/selected_frac': 0.17647058823529413, 'kl': 0.0, 'loss': -0.2168043950860426,
         'mismatch/abs_log_ratio': 0.1893894992449559, 'mismatch/masked_frac': 0.0,
         'mismatch/outside_frac': 0.7647058823529411, 'mismatch/ratio_mean': 1.1042993382475974,
         'ratio/mean': 0.9885931386777966}),
    'token_mask/plain': (-0.07186646731790901,
        [-0.03343878502743526, 0.013752717512083528, -2.9412635320045992],
        [26.2006866244898, 25.90078361866573, 539.0847819290186],
        {'clip_frac': 0.14705882352941177, 'kl': 0.0, 'loss': -0.07186646731790901,
         'mismatch/abs_log_ratio': 0.1893894992449559, 'mismatch/masked_frac': 0.4411764705882353,
         'mismatch/outside_frac': 0.7647058823529411, 'mismatch/ratio_mean': 1.1042993382475974,
         'ratio/mean': 0.9885931386777966}),
    'token_mask/gspo': (-0.02015737904404265,
        [-0.06449821586297784, 0.006927231399652192, -4.22357339582314],
        [26.2006866244898, 25.90078361866573, 539.0847819290186],
        {'clip_frac': 0.17647058823529413, 'kl': 0.0, 'loss': -0.02015737904404265,
         'mismatch/abs_log_ratio': 0.1893894992449559, 'mismatch/masked_frac': 0.4411764705882353,
         'mismatch/outside_frac': 0.7647058823529411, 'mismatch/ratio_mean': 1.1042993382475974,
         'ratio/mean': 0.9678459056516706}),
    'token_mask/clip_cov': (-0.054680218645773083,
        [-0.016252536355299343, 0.011093227251212822, -1.889902793912237],
        [26.2006866244898, 25.90078361866573, 539.0847819290186],
        {'clip_frac': 0.14705882352941177, 'entropy_control/candidate_frac': 0.8529411764705882,
         'entropy_control/selected_frac': 0.17647058823529413, 'kl': 0.0, 'loss': -0.054680218645773083,
         'mismatch/abs_log_ratio': 0.1893894992449559, 'mismatch/masked_frac': 0.4411764705882353,
         'mismatch/outside_frac': 0.7647058823529411, 'mismatch/ratio_mean': 1.1042993382475974,
         'ratio/mean': 0.9885931386777966}),
    'token_mask_min/plain': (0.0009518019580905028,
        [0.03937948424856423, 0.011768593984509686, -0.9921851792826015],
        [22.462539815173397, 23.074331412018072, 457.13221170702],
        {'clip_frac': 0.14705882352941177, 'kl': 0.0, 'loss': 0.0009518019580905028,
         'mismatch/abs_log_ratio': 0.1893894992449559, 'mismatch/masked_frac': 0.5882352941176471,
         'mismatch/outside_frac': 0.7647058823529411, 'mismatch/ratio_mean': 1.1042993382475974,
         'ratio/mean': 0.9885931386777966}),
    'token_mask_min/gspo': (0.04380605557228262,
        [-0.0005347812466525402, 0.005072625658207292, -2.5338205470035735],
        [22.462539815173397, 23.074331412018072, 457.13221170702],
        {'clip_frac': 0.17647058823529413, 'kl': 0.0, 'loss': 0.04380605557228262,
         'mismatch/abs_log_ratio': 0.1893894992449559, 'mismatch/masked_frac': 0.5882352941176471,
         'mismatch/outside_frac': 0.7647058823529411, 'mismatch/ratio_mean': 1.1042993382475974,
         'ratio/mean': 0.9678459056516706}),
    'token_mask_min/clip_cov': (-0.029185717509678043,
        [0.009241964780795687, 0.010860323904839559, -1.414110451831361],
        [22.462539815173397, 23.074331412018072, 457.13221170702],
        {'clip_frac': 0.14705882352941177, 'entropy_control/candidate_frac': 0.8529411764705882,
         'entropy_control/selected_frac': 0.17647058823529413, 'kl': 0.0, 'loss': -0.029185717509678043,
         'mismatch/abs_log_ratio': 0.1893894992449559, 'mismatch/masked_frac': 0.5882352941176471,
         'mismatch/outside_frac': 0.7647058823529411, 'mismatch/ratio_mean': 1.1042993382475974,
         'ratio/mean': 0.9885931386777966}),
    'sequence_tis/plain': (-0.21038703279030166,
        [0.037803516113653735, 0.11302950133221767, -3.2199310921451243],
        [77.57625712183662, 173.35048120012618, 1625.238921531255],
        {'clip_frac': 0.14705882352941177, 'kl': 0.0, 'loss': -0.21038703279030166,
         'mismatch/abs_log_ratio': 0.1893894992449559, 'mismatch/masked_frac': 0.0,
         'mismatch/outside_frac': 0.7647058823529411, 'mismatch/ratio_mean': 1.1042993382475974,
         'ratio/mean': 0.9885931386777966}),
    'sequence_tis/gspo': (-0.27830840824910724,
        [0.024140630732461865, 0.07796995171711352, -7.989737652519391],
        [77.57625712183662, 173.35048120012618, 1625.238921531255],
        {'clip_frac': 0.17647058823529413, 'kl': 0.0, 'loss': -0.27830840824910724,
         'mismatch/abs_log_ratio': 0.1893894992449559, 'mismatch/masked_frac': 0.0,
         'mismatch/outside_frac': 0.7647058823529411, 'mismatch/ratio_mean': 1.1042993382475974,
         'ratio/mean': 0.9678459056516706}),
    'sequence_tis/clip_cov': (-0.06691191126204353,
        [0.1812786376419118, 0.08752286442209005, -1.8878722408503452],
        [77.57625712183662, 173.35048120012618, 1625.238921531255],
        {'clip_frac': 0.14705882352941177, 'entropy_control/candidate_frac': 0.8529411764705882,
         'entropy_control/selected_frac': 0.17647058823529413, 'kl': 0.0, 'loss': -0.06691191126204353,
         'mismatch/abs_log_ratio': 0.1893894992449559, 'mismatch/masked_frac': 0.0,
         'mismatch/outside_frac': 0.7647058823529411, 'mismatch/ratio_mean': 1.1042993382475974,
         'ratio/mean': 0.9885931386777966}),
    'sequence_mask/plain': (-0.6624302160494512,
        [-0.4314266082661735, 0.0409980061500243, -13.854950589945188],
        [20.061183997612297, 29.989088129959775, 586.3417779711258],
        {'clip_frac': 0.14705882352941177, 'kl': 0.0, 'loss': -0.6624302160494512,
         'mismatch/abs_log_ratio': 0.1893894992449559, 'mismatch/masked_frac': 0.7352941176470589,
         'mismatch/outside_frac': 0.7647058823529411, 'mismatch/ratio_mean': 1.1042993382475974,
         'ratio/mean': 0.9885931386777966}),
    'sequence_mask/gspo': (-0.4553942026151067,
        [-0.5499510480564028, 0.0432065936083337, -17.59843353780489],
        [20.061183997612297, 29.989088129959775, 586.3417779711258],
        {'clip_frac': 0.17647058823529413, 'kl': 0.0, 'loss': -0.4553942026151067,
         'mismatch/abs_log_ratio': 0.1893894992449559, 'mismatch/masked_frac': 0.7352941176470589,
         'mismatch/outside_frac': 0.7647058823529411, 'mismatch/ratio_mean': 1.1042993382475974,
         'ratio/mean': 0.9678459056516706}),
    'sequence_mask/clip_cov': (-0.5777931232333768,
        [-0.3467895154500992, 0.03383456866966752, -11.061926527014734],
        [20.061183997612297, 29.989088129959775, 586.3417779711258],
        {'clip_frac': 0.14705882352941177, 'entropy_control/candidate_frac': 0.8529411764705882,
         'entropy_control/selected_frac': 0.17647058823529413, 'kl': 0.0, 'loss': -0.5777931232333768,
         'mismatch/abs_log_ratio': 0.1893894992449559, 'mismatch/masked_frac': 0.7352941176470589,
         'mismatch/outside_frac': 0.7647058823529411, 'mismatch/ratio_mean': 1.1042993382475974,
         'ratio/mean': 0.9885931386777966}),
}


def fixed_tensors():
    g = torch.Generator().manual_seed(7)
    old = -torch.rand(6, 7, generator=g, dtype=torch.float64) - 0.3
    logp = old + 0.3 * torch.randn(6, 7, generator=g, dtype=torch.float64)
    sampler = old + 0.2 * torch.randn(6, 7, generator=g, dtype=torch.float64)
    mask = torch.ones(6, 7, dtype=torch.float64)
    mask[0, 4:] = 0
    mask[3, 2:] = 0
    advantages = torch.tensor([1.0, -1.0, 0.5, -0.5, 2.0, -0.25], dtype=torch.float64)
    entropy = torch.rand(6, 7, generator=g, dtype=torch.float64)
    ref = old + 0.05 * torch.randn(6, 7, generator=g, dtype=torch.float64)
    return logp, old, sampler, mask, advantages, entropy, ref


REWARDS = torch.tensor([[1.0, 0, 0, 1, 1, 0], [1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0],
                        [0.5, 1, 0, 0.2, 1, 0]])
ESTIMATORS = {  # case: (the estimator's spec, the verifier's rates)
    "grpo": ("grpo", None),
    "grpo_median_noscale": ({"name": "grpo", "baseline": "median", "scale_by_std": False}, None),
    "grpo_rloo": ({"name": "grpo", "baseline": "rloo"}, None),
    "grpo_rloo_noscale": ({"name": "grpo", "baseline": "rloo", "scale_by_std": False}, None),
    "w_reinforce": ("w_reinforce", None), "w_reinforce_0.3": ({"name": "w_reinforce", "positive_weight": 0.3}, None),
    "pass_at_k": ("pass_at_k", None), "pass_at_k_2": ({"name": "pass_at_k", "k": 2}, None),
    "pass_at_k_1": ({"name": "pass_at_k", "k": 1}, None),
    "forward_correction_0.1": ("forward_correction", (None, 0.1)),
    "forward_correction_0.25": ("forward_correction", (None, 0.25)),
}
LOSSES = {  # grpo_loss's options per case
    "plain": {}, "gspo": {"ratio_level": "sequence", "aggregation": "seq_mean", "clip_low": 3e-4, "clip_high": 4e-4},
    "clip_cov": {"entropy_control": {"name": "clip_cov", "cov_fraction": 0.2, "cov_bounds": (-10.0, 10.0)}},
    "clip_cov_default": {"entropy_control": "clip_cov"},
    "kl_cov": {"entropy_control": {"name": "kl_cov", "cov_fraction": 0.1, "kl_coef": 2.0}},
    "kl_cov_default": {"entropy_control": "kl_cov"},
    "gspo_clip_cov": {"ratio_level": "sequence",
                      "entropy_control": {"name": "clip_cov", "cov_fraction": 0.3, "cov_bounds": (-5.0, 5.0)}},
    "entropy_bonus": {"entropy_coef": 0.01}, "top_entropy": {"top_entropy_fraction": 0.2},
    "kl_ref": {"beta": 0.04, "clip_high": 0.28},
    "constant_norm": {"aggregation": "constant_normaliser", "max_tokens": 9},
}
MODES = {"none": "none", "tis": {"name": "tis", "cap": 3.0}, "tis_2": {"name": "tis", "cap": 1.1, "cap_min": 0.9},
         "token_mask": {"name": "token_mask", "cap": 1.2}, "token_mask_min": {"name": "token_mask", "cap": 1.2,
                                                                              "cap_min": 0.85},
         "sequence_tis": {"name": "sequence_tis"},
         "sequence_mask": {"name": "sequence_mask", "cap": 2.0, "cap_min": 0.5}}


def digest(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def hexes(tensor: torch.Tensor) -> list[str]:
    return [x.hex() for x in tensor.flatten().tolist()]


def sums(tensor: torch.Tensor) -> list[float]:
    """Sum, sum of squares and position-weighted sum: a change to any value moves one of them."""
    t = tensor.detach().flatten().double()
    place = torch.arange(1, t.numel() + 1, dtype=torch.float64)
    return [t.sum().item(), (t * t).sum().item(), (t * place).sum().item()]


@pytest.mark.parametrize("case", list(ESTIMATORS))
def test_advantages_are_bit_for_bit_those_before_the_variants(case):
    spec, rates = ESTIMATORS[case]
    advantages, metrics = estimate_advantages(REWARDS, ADVANTAGES.build(spec), rates)
    assert digest(hexes(advantages), {k: float(v).hex() for k, v in metrics.items()}) == ADVANTAGES_BEFORE[case]


@pytest.mark.parametrize("case", list(LOSSES_BEFORE))
def test_losses_are_those_before_the_variants(case):
    mode, loss_case = case.split("/")
    logp, old, sampler, mask, advantages, entropy, ref = fixed_tensors()
    options = dict(LOSSES[loss_case])
    if "entropy_control" in options:
        options["entropy_control"] = ENTROPY_CONTROLS.build(options["entropy_control"])
    weights, mismatch = (None, {}) if mode == "no_weights" else MISMATCH_MODES.build(MODES[mode]).weights(
        old, sampler, mask)
    leaf = logp.clone().requires_grad_()
    loss, metrics = grpo_loss(leaf, old, advantages, mask, ref_logp=ref if loss_case == "kl_ref" else None,
                              weights=weights, generator=torch.Generator().manual_seed(11),
                              entropy=entropy.clone().requires_grad_() if "entropy_coef" in options else entropy,
                              **options)
    (grad,) = torch.autograd.grad(loss, leaf)
    want_loss, want_grad, want_weights, want_metrics = LOSSES_BEFORE[case]
    close = {"rel": 1e-9, "abs": 1e-12}  # float64 rounding on another CPU, far below any change of formula
    assert loss.item() == pytest.approx(want_loss, **close)
    assert sums(grad) == pytest.approx(want_grad, **close)
    assert (weights is None) is (want_weights is None)
    if weights is not None:
        assert sums(weights) == pytest.approx(want_weights, **close)
    metrics = {k: float(v) for k, v in {**metrics, **mismatch}.items()}
    assert sorted(metrics) == sorted(want_metrics)
    assert metrics == pytest.approx(want_metrics, **close)
