"""The config machinery at the package root: any frozen dataclass of sections, its variant keys found by type."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import pytest

from rlvr._errors import ConfigError
from rlvr.config import Registry, Variant, build, config_help, load, option, variant_keys


@dataclass(frozen=True)
class Schedule(Variant):
    key: ClassVar[str] = "run.schedule"


SCHEDULES: Registry[Schedule] = Registry(Schedule, "schedule")


@SCHEDULES.register("constant")
@dataclass(frozen=True)
class Constant(Schedule):
    """The same rate at every step."""


@SCHEDULES.register("cosine")
@dataclass(frozen=True)
class Cosine(Schedule):
    """Down to `floor` times the rate along half a cosine."""

    floor: float = option(0.1, "the last step's share of the rate", low=0.0, high=1.0)


@dataclass(frozen=True)
class RunSection:
    steps: int = option(20, "update steps", low=1)
    schedule: Schedule = option(Constant(), "how the rate moves")
    hook: str | dict = option("", "a schedule by name or mapping (\"\" = none)", registry=SCHEDULES)


@dataclass(frozen=True)
class Config:
    run: RunSection = field(default_factory=RunSection)


def test_a_variant_key_is_read_by_the_registry_of_its_type(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("run: {steps: 5, schedule: {name: cosine, floor: 0.5}}\n")
    assert load(Config, path).run == RunSection(steps=5, schedule=Cosine(floor=0.5))
    # an option before its name keeps the option; a bare name is the variant with its defaults
    assert load(Config, None, ["run.schedule.floor=0.2", "run.schedule=cosine"]).run.schedule == Cosine(floor=0.2)
    assert load(Config, None, ["run.schedule=cosine"]).run.schedule == Cosine()
    assert variant_keys(Config) == {"run.schedule", "run.hook"}


def test_bad_input_is_one_sentence_naming_the_key():
    with pytest.raises(ConfigError, match="must be one of 'constant', 'cosine'"):
        load(Config, None, ["run.schedule=linear"])
    with pytest.raises(ConfigError, match="run.schedule.floor must be in"):
        load(Config, None, ["run.schedule=cosine", "run.schedule.floor=2"])
    with pytest.raises(ConfigError, match="config key 'run.epochs' is now 'run.steps'"):
        build(Config, {"run": {"epochs": 3}}, moved={"run.epochs": "run.steps"})


def test_the_help_lists_every_key_and_each_registrys_variants():
    text = config_help(Config)
    assert "run.steps = 20  # update steps (at least 1)" in text
    assert text.count("cosine: Down to `floor` times the rate along half a cosine.") == 2  # schedule and hook
    assert "floor = 0.1  the last step's share of the rate (in [0, 1])" in text
