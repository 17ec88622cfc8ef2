"""Typed configs read from YAML plus `section.key=value` overrides, and the option objects they are made of.

    @dataclass(frozen=True)
    class RunSection:
        steps: int = option(20, "update steps", low=1)      # one default, its meaning, its range

    config = load(MyConfig, "config.yaml", ["run.steps=40"])  # unknown keys, wrong types: one sentence
    dump_config(config, "run/config.yaml")                   # resolved, as YAML

A key may name a *variant*: a small frozen dataclass registered by name in a `Registry` of its kind, whose
fields are its options (`algo.advantage: {name: pass_at_k, k: 4}`; a bare name for its defaults). The
training config (rlvr.train.config), the SFT config (rlvr.sft.config), the health thresholds and the
algorithm variants (rlvr.train.objectives.variants) are all built from these pieces; `config_help` and
`reference_table` print a config's keys from the same metadata the config checks. This module imports no
torch: `rlvr --help` reads it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import re
import types
import typing
from collections.abc import Collection, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Generic, Literal, TypeVar

import yaml

from rlvr._errors import ConfigError
from rlvr._io import atomic_write, read_text_file

__all__ = ["FLOAT32_MAX", "Range", "Registry", "Variant", "as_data", "build", "config_help", "config_keys",
           "dump_config", "field_doc", "load", "option", "read_config", "read_number", "read_variant",
           "reference_table", "registry_of", "shown", "spelled", "spelling", "variant_keys", "with_overrides"]

_Config = TypeVar("_Config")
FLOAT32_MAX = 3.4028234663852886e38  # torch.finfo(torch.float32).max: a float key beyond it overflows the loss
_REGISTRIES: dict[type, Registry] = {}  # a variant kind's base -> its registry (each Registry adds itself)

_V = TypeVar("_V", bound="Variant")


# ---------------------------------------------------------------------------------------------------------------
# Options: a field with its meaning and its range


@dataclass(frozen=True)
class Range:
    """The values an option may take: [low, high], either end open or absent; `why` ends the error."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    why: str = ""

    def __contains__(self, value: float) -> bool:
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def text(self) -> str:
        """"in (0, 1]", ">= 0", "at least 1": how the help and the error messages say it."""
        if self.low is not None and self.high is not None:
            return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        if self.low is not None:
            if self.low_open:
                return f"> {self.low:g}"
            return ">= 0" if self.low == 0 else f"at least {self.low:g}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {self.high:g}"
        return ""


def option(default: Any, help: str, *, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False, why: str = "", registry: Registry | None = None) -> Any:
    """A config key or a variant's option: its one default, what it means (`help`) and, for a number, its
    range. registry: for a key spelled `str | dict` that names a variant of it (its variants are listed in the
    help; a key typed by a variant base finds its registry itself)."""
    bounds = Range(low, high, low_open, high_open, why) if low is not None or high is not None else None
    metadata = {"help": help, **({"range": bounds} if bounds else {}), **({"registry": registry} if registry else {})}
    return field(default=default, metadata=metadata)


# ---------------------------------------------------------------------------------------------------------------
# How an option is named in messages: as the user wrote it (an old flat key keeps its name while it works)

_SPELLED: ContextVar[Mapping[str, str]] = ContextVar("rlvr_spelled", default={})


@contextlib.contextmanager
def spelled(names: Mapping[str, str]) -> Iterator[None]:
    """While a config is built, name each option key ("algo.advantage.k") as the config wrote it ("algo.pass_k")."""
    token = _SPELLED.set(names)
    try:
        yield
    finally:
        _SPELLED.reset(token)


def spelling(key: str) -> str:
    """The name of a config key as the config being read wrote it."""
    return _SPELLED.get().get(key, key)


# ---------------------------------------------------------------------------------------------------------------
# The variant base and the registry


@dataclass(frozen=True)
class Variant:
    """Base of every variant: subclass a kind's base as a frozen dataclass and register it by name.

    name: set by the registry; key: the config key that chooses this kind (e.g. "algo.advantage").
    """

    name: ClassVar[str] = ""
    key: ClassVar[str] = ""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value, bounds, hint = getattr(self, f.name), f.metadata.get("range"), hints.get(f.name)
            if typing.get_origin(hint) is Literal and value not in typing.get_args(hint):
                choices = ", ".join(repr(a) for a in typing.get_args(hint))
                raise ConfigError(f"config key '{self.label(f.name)}' must be one of {choices}, got {value!r}.")
            if (hint is bool) != isinstance(value, bool) and hint in (bool, int, float) or (
                    hint in (int, float) and not isinstance(value, (int, float))):
                raise ConfigError(f"config key '{self.label(f.name)}' must be {hint.__name__}, got {value!r}.")
            if bounds is not None and value not in bounds:
                why = f" ({bounds.why})" if bounds.why else ""
                raise ConfigError(f"{self.label(f.name)} must be {bounds.text()}{why}, got {value!r}.")
        problem = self.check()
        if problem:
            raise ConfigError(problem + ".")

    def check(self) -> str | None:
        """Why these options do not work together (one sentence without its full stop), or None."""
        return None

    def label(self, option_name: str) -> str:
        """The option as the config names it: algo.advantage.k (or the old flat key it came from)."""
        return spelling(f"{self.key}.{option_name}")

    def options(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def spec(self) -> str | dict[str, Any]:
        """As a config writes it: the bare name, or {name: ..., option: value, ...}."""
        options = {k: list(v) if isinstance(v, tuple) else v for k, v in self.options().items()}
        return {"name": self.name, **options} if options else self.name


class Registry(Mapping[str, type[_V]], Generic[_V]):
    """The variants of one kind by name: `@REGISTRY.register("name")` on a subclass of `base`.

    what: the kind in messages ("advantage estimator"); none: the name that means no variant at all (the
    group reward's ""), which `build` turns into None.
    """

    def __init__(self, base: type[_V], what: str, none: str | None = None) -> None:
        self.base, self.what, self.none = base, what, none
        self._classes: dict[str, type[_V]] = {}
        _REGISTRIES[base] = self  # a config field typed `base` is read by this registry

    def register(self, name: str) -> Callable[[type[_V]], type[_V]]:
        """Class decorator. A name has one definition: registering it twice is an error."""

        def decorate(cls: type[_V]) -> type[_V]:
            if not (isinstance(cls, type) and issubclass(cls, self.base) and "__dataclass_params__" in vars(cls)
                    and cls.__dataclass_params__.frozen):  # its own @dataclass(frozen=True), not its base's
                raise TypeError(f"register('{name}') expects a frozen dataclass subclassing {self.base.__name__}, "
                                f"got {cls!r}")
            if name in self._classes and self._classes[name] is not cls:
                raise ValueError(f"{self.what} '{name}' is already registered ({self._classes[name].__qualname__})")
            cls.name = name
            self._classes[name] = cls
            return cls

        return decorate

    def __getitem__(self, name: str) -> type[_V]:
        return self._classes[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._classes)

    def __len__(self) -> int:
        return len(self._classes)

    def build(self, spec: Any) -> _V | None:
        """The variant a spec names: an instance (kept), a bare name, or {name: ..., option: value, ...}; None
        for the `none` name. ConfigError, one sentence, for an unknown name or option; the variant checks its
        options."""
        if isinstance(spec, self.base) or spec is None and self.none is not None:
            return spec
        options: dict[str, Any] = {}
        if isinstance(spec, Mapping):
            options = dict(spec)
            spec = options.pop("name", None)
        if spec == self.none and not options:
            return None
        if not isinstance(spec, str) or spec not in self._classes:
            names = ([] if self.none is None else [self.none]) + list(self._classes)
            choices = ", ".join(repr(name) for name in names)
            raise ConfigError(f"config key '{spelling(self.base.key)}' must be one of {choices}, or a mapping with "
                              f"'name' and that variant's options; got {spec!r}, an unknown {self.what}.")
        cls = self._classes[spec]
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(options) - set(known))
        if unknown:
            has = f"its options are {', '.join(known)}" if known else "it takes none"
            raise ConfigError(f"{self.base.key}={spec} has no option '{unknown[0]}'; {has}.")
        return cls(**options)

    def summary(self, name: str) -> str:
        """The first paragraph of the variant's docstring, on one line."""
        return " ".join((self._classes[name].__doc__ or "").strip().split("\n\n")[0].split())

    def describe(self) -> list[str]:
        """One line per variant and per option: `name: summary` then `  option = default  meaning (range)`."""
        lines = [] if self.none is None else [f"{self.none!r}: none"]
        for name, cls in self._classes.items():
            lines.append(f"{name}: {self.summary(name)}")
            for f in dataclasses.fields(cls):
                meaning, bounds = field_doc(f)
                lines.append(f"  {f.name} = {shown(f.default)}  {meaning}" + (f" ({bounds})" if bounds else ""))
        return lines


def field_doc(f: dataclasses.Field) -> tuple[str, str]:
    """(meaning, range) of a config key or an option, from its metadata: the range of a number, or the choices
    of a Literal; "" where there is none."""
    bounds = f.metadata.get("range")
    if bounds is not None:
        return f.metadata.get("help", ""), bounds.text()
    annotation = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
    choices = annotation[len("Literal["):-1].replace('"', "'") if annotation.startswith("Literal[") else ""
    return f.metadata.get("help", ""), f"one of {choices}" if choices else ""


def shown(value: Any) -> str:
    """A default as YAML writes it, on one line (a variant as its spec)."""
    if isinstance(value, Variant):
        value = value.spec()
    value = list(value) if isinstance(value, tuple) else value
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=1000).strip()
    return text.removesuffix("...").strip() or "''"


# ---------------------------------------------------------------------------------------------------------------
# Reading a config


def read_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                variant_paths: Collection[str] = ()) -> dict[str, Any]:
    """A config's mappings: the YAML file at `path` (or none) with the `section.key=value` overrides applied.

    variant_paths: the dotted keys that name a variant (`variant_keys(config_class)`), so that
    `algo.mismatch.cap=2 algo.mismatch=tis` keeps the option when the name comes second.
    """
    data: dict[str, Any] = {}
    if path is not None:
        text = read_text_file(path, "config file")
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {str(exc).splitlines()[0]}.") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"config file {path} must hold a mapping of sections, got {type(data).__name__}.")
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"an override is key=value (e.g. algo.beta=0.04), got '{item}'.")
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            if isinstance(node.get(part), str):  # a bare name gets an option: algo.mismatch=tis algo.mismatch.cap=2
                node[part] = {"name": node[part]}
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override '{item}': '{part}' is not a section.")
        value = yaml.safe_load(raw) if raw else ""
        if key in variant_paths and isinstance(value, str) and isinstance(node.get(leaf), dict):
            value = {**node[leaf], "name": value}  # algo.mismatch.cap=2 algo.mismatch=tis: the options stay
        node[leaf] = value
    return data


def load(config_class: type[_Config], path: str | Path | None = None,
         overrides: list[str] | tuple[str, ...] = ()) -> _Config:
    """Read a YAML config of `config_class` (or start from its defaults) and apply `section.key=value` overrides."""
    return build(config_class, read_config(path, overrides, variant_keys(config_class)))


def variant_keys(config_class: type) -> set[str]:
    """The dotted keys of a config that name a variant (a bare name or {name: ..., option: value})."""
    return {key for key, f, _ in config_keys(config_class) if registry_of(f) is not None}


def registry_of(f: dataclasses.Field) -> Registry | None:
    """The registry whose variants a config field names, or None for a plain key."""
    if f.metadata.get("registry") is not None:
        return f.metadata["registry"]
    default = f.default
    return next((_REGISTRIES[base] for base in type(default).__mro__ if base in _REGISTRIES), None) \
        if isinstance(default, Variant) else None


def build(cls: type[_Config], data: Any, prefix: str = "", moved: Mapping[str, str] | None = None) -> _Config:
    """A config dataclass from mappings read from YAML, every value checked against its field's type (one
    sentence naming the key on an error). moved: old dotted key -> its new name, for a clearer error."""
    return _build(cls, data, prefix, moved or {})


def _build(cls: type, data: Any, prefix: str, moved: Mapping[str, str]) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"config section '{prefix.rstrip('.') or 'top level'}' must be a mapping.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(fields))
    old = next((f"{prefix}{key}" for key in unknown if f"{prefix}{key}" in moved), None)
    if old:
        raise ConfigError(f"config key '{old}' is now '{moved[old]}'.")
    if unknown:
        raise ConfigError(
            f"unknown config key '{prefix}{unknown[0]}'; known keys here: {', '.join(fields)}."
        )
    values = {}
    for name, value in data.items():
        hint = hints[name]
        if isinstance(hint, type) and issubclass(hint, Variant):
            default = fields[name].default
            if isinstance(value, dict) and "name" not in value:  # options alone: of the default variant
                value = {"name": default.name, **value}
            values[name] = read_variant(_REGISTRIES[hint], value, f"{prefix}{name}")
        elif dataclasses.is_dataclass(hint):
            values[name] = _build(hint, value, f"{prefix}{name}.", moved)
        else:
            values[name] = _coerce(value, hint, f"{prefix}{name}")
    try:
        return cls(**values)
    except ConfigError as exc:  # a section's own check (e.g. Decoding's) names the key without its section
        message = str(exc)
        if prefix and not message.startswith(prefix):
            raise ConfigError(prefix + message) from None
        raise


def read_variant(registry: Registry, spec: Any, key: str) -> Variant:
    """The variant a bare name or {name: ..., options} names, each option read like any config key (a YAML
    "1e-3" is a float; errors name the key as the config wrote it)."""
    if isinstance(spec, dict) and spec.get("name") in registry:
        cls = registry[spec["name"]]
        hints, known = typing.get_type_hints(cls), {f.name for f in dataclasses.fields(cls)}
        spec = {k: _coerce(v, hints[k], spelling(f"{key}.{k}")) if k in known else v for k, v in spec.items()}
    variant = registry.build(spec)
    assert variant is not None  # a registry with a "none" name is read through a `str | dict` key instead
    return variant


def _coerce(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is Literal:
        if value not in typing.get_args(hint):
            choices = ", ".join(repr(a) for a in typing.get_args(hint))
            raise ConfigError(f"config key '{key}' must be one of {choices}, got {value!r}.")
        return value
    if origin is tuple:
        items = value if isinstance(value, (list, tuple)) else [value]
        return tuple(_coerce(v, typing.get_args(hint)[0], key) for v in items)
    if origin in (typing.Union, types.UnionType):
        for choice in typing.get_args(hint):
            try:
                return _coerce(value, choice, key)
            except ConfigError:
                continue
        raise ConfigError(f"config key '{key}' has the wrong type: {value!r}.")
    if hint is dict and isinstance(value, dict):
        return value
    if hint is float and isinstance(value, (int, float, str)) and not isinstance(value, bool):
        number = read_number(value)  # YAML 1.1 reads 1e-5 (no dot) as a string
        if number is not None and not math.isfinite(number):
            raise ConfigError(f"config key '{key}' must be a finite number, got {value!r}.")
        if number is not None and abs(number) > FLOAT32_MAX:  # it would become inf in the float32 loss
            raise ConfigError(f"config key '{key}' must lie within +-{FLOAT32_MAX:.3g} (float32's range, in which "
                              f"the loss is computed), got {value!r}.")
        if number is not None:
            return number
    if hint is bool and isinstance(value, bool) or hint is int and isinstance(value, int) and not isinstance(
        value, bool
    ) or hint is str and isinstance(value, str):
        return value
    raise ConfigError(f"config key '{key}' must be {getattr(hint, '__name__', hint)}, got {value!r}.")


def read_number(value: Any) -> float | None:
    """`value` as a float when it is a number or a string that spells one ("1e-3", which YAML 1.1
    reads as a string), else None; the one number reading of configs and `key=value` options."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        return float(value)
    return None


_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[-+]?(inf|infinity|nan)", re.IGNORECASE)


def with_overrides(section: _Config, overrides: dict[str, Any], prefix: str) -> _Config:
    """A copy of a config section with `overrides` applied, each checked against the field's type like
    a config file's value (`prefix`, e.g. "health.", names the key in errors)."""
    return _build(type(section), {**as_data(section), **overrides}, prefix, {})


def dump_config(config: Any, path: str | Path) -> None:
    """Write a config dataclass, resolved, as YAML."""
    text = yaml.safe_dump(as_data(config), sort_keys=False)
    atomic_write(path, lambda f: f.write(text))


def as_data(value: Any) -> Any:
    """A config (or section) as YAML writes it: mappings, lists and scalars; a variant as its spec."""
    if isinstance(value, Variant):
        return as_data(value.spec())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: as_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: as_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_data(v) for v in value]
    return value


def config_keys(config_class: type) -> list[tuple[str, dataclasses.Field, Any]]:
    """(dotted key, field, default) of every key of a config, section by section, in definition order."""
    keys = []
    for section in dataclasses.fields(config_class):
        default = getattr(config_class(), section.name)
        if dataclasses.is_dataclass(default) and not isinstance(default, Variant):
            keys += [(f"{section.name}.{f.name}", f, getattr(default, f.name)) for f in dataclasses.fields(default)]
        else:
            keys.append((section.name, section, default))
    return keys


def config_help(config_class: type) -> str:
    """Every key with its default, its meaning and its range, and each variant key's variants with their
    options: the CLI help comes from the same source as the config (the fields' metadata)."""
    lines = []
    for key, f, default in config_keys(config_class):
        meaning, bounds = field_doc(f)
        lines.append(f"  {key} = {shown(as_data(default))}" + (f"  # {meaning}" if meaning else "")
                     + (f" ({bounds})" if bounds else ""))
        registry = registry_of(f)
        if registry is not None:
            lines += [f"      {line}" for line in registry.describe()]
    return "\n".join(lines)


def reference_table(config_class: type, intro: list[str]) -> str:
    """A config's reference as Markdown: `intro` (a heading and its paragraph), then every key, its default,
    its range and its meaning, section by section, and under a variant key its variants and their options."""
    out = list(intro)
    section = None
    for key, f, default in config_keys(config_class):
        head = key.partition(".")[0] if "." in key else "(top level)"
        if head != section:
            section = head
            out += ["", f"### {section}", "", "| key | default | range | meaning |", "|---|---|---|---|"]
        out.append(_row(f"`{key}`", f"`{shown(as_data(default))}`", *field_doc(f)[::-1]))
        registry = registry_of(f)
        for name, cls in (registry or {}).items():
            out.append(_row(f"&nbsp;&nbsp;`{key}: {name}`", "", "", registry.summary(name)))
            for option_field in dataclasses.fields(cls):
                out.append(_row(f"&nbsp;&nbsp;&nbsp;&nbsp;`{name}.{option_field.name}`",
                                f"`{shown(option_field.default)}`", *field_doc(option_field)[::-1]))
    return "\n".join(out) + "\n"


def _row(*cells: str) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"
