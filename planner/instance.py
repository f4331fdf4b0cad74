"""The instance: the SPEC's section 2 as a validated pydantic schema, plus friendly loading.

Every problem found in a file is reported at once, each with its field path
(`leases[2].price_per_gpu_hour`) and what is wrong, as an `InstanceError`.
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from planner import ranges
from planner.ranges import Range, excerpt


class InstanceError(Exception):
    """Bad input: a list of (field path, message) problems found in one source."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {path or '(top level)'}: {msg}" for path, msg in problems))


def _number(value: Any) -> Any:
    """Accept numbers written in scientific notation, which YAML 1.1 loaders read as strings."""
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return value
    return value


def _whole_number(value: Any) -> Any:
    """Accept `7e1` or `70.0` for an integer field, but not `70.5`."""
    value = _number(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    return value


Num = Annotated[float, BeforeValidator(_number), BeforeValidator(_no_bool)]
Positive = Annotated[float, Field(gt=0), BeforeValidator(_number), BeforeValidator(_no_bool)]


def In(r: Range) -> Any:
    """A number in its supported range (planner.ranges)."""
    return Annotated[float, AfterValidator(r.check), BeforeValidator(_number), BeforeValidator(_no_bool)]


def WholeIn(r: Range) -> Any:
    """A whole number in its supported range (planner.ranges)."""
    return Annotated[int, AfterValidator(r.check), BeforeValidator(_whole_number), BeforeValidator(_no_bool)]


Name = Annotated[str, Field(min_length=1)]  # a name the plan, the reports and `set` paths can point at


class Spec(BaseModel):
    """Base of every section: unknown keys and non-finite numbers are errors."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, validate_assignment=True)

    def __setattr__(self, name: str, value: Any) -> None:
        """An assignment is validated like a file and fails with the same messages (InstanceError)."""
        try:
            super().__setattr__(name, value)
        except ValidationError as err:
            raise InstanceError(type(self).__name__, _pydantic_problems(err)) from None


class Horizon(Spec):
    periods: WholeIn(ranges.PERIODS) = 1
    period_hours: In(ranges.PERIOD_HOURS) = 730.0
    discount_rate: In(ranges.DISCOUNT_RATE) = 0.0


class Generation(Spec):
    name: Name
    power_kw: In(ranges.POWER_KW)
    node_size: WholeIn(ranges.NODE_SIZE) = 8
    train_speed: In(ranges.SPEED)
    infer_speed: In(ranges.SPEED)
    memory_gb: In(ranges.MEMORY_GB) | None = None
    capex_per_gpu: In(ranges.CAPEX) | None = None
    depreciation_years: In(ranges.DEPRECIATION_YEARS) | None = None


class Delivery(Spec):
    period: WholeIn(ranges.PERIOD_INDEX)
    generation: str
    gpus: WholeIn(ranges.DELIVERY_GPUS)


class Site(Spec):
    name: Name
    power_mw: In(ranges.POWER_MW)
    pue: In(ranges.PUE) = 1.0
    energy_price_per_mwh: In(ranges.PRICE) = 0.0
    inventory: dict[str, WholeIn(ranges.GPUS)] = Field(default_factory=dict)
    deliveries: list[Delivery] = Field(default_factory=list)


Periods = Annotated[list[WholeIn(ranges.PERIOD_INDEX)], Field(min_length=2, max_length=2)]


class Scoped(Spec):
    """A consumer restricted to some generations, sites and a [start, end) window of periods."""

    name: Name
    generations: list[str] | None = None
    sites: list[str] | None = None
    periods: Periods | None = None


class TrainingRun(Scoped):
    value_per_unit_hour: In(ranges.PRICE)
    min_units: In(ranges.UNITS) = 0.0
    max_units: In(ranges.UNITS) | None = None
    required: bool = False
    homogeneous: bool = True
    single_site: bool = True


class Tier(Spec):
    units: In(ranges.UNITS)
    value_per_unit_hour: In(ranges.TIER_VALUE)


class InferencePool(Scoped):
    demand: list[Tier]
    min_units: In(ranges.UNITS) = 0.0
    demand_scale: list[In(ranges.DEMAND_SCALE)] | None = None


class Termination(Spec):
    """The operator's right to end a lease early (SPEC section 6)."""

    notice_periods: WholeIn(ranges.PERIOD_INDEX) = 0
    earliest_period: WholeIn(ranges.PERIOD_INDEX) | None = None  # default: the term's start + 1
    fee: In(ranges.FEE) = 0.0


class Lease(Scoped):
    lessee: str | None = None
    price_per_gpu_hour: In(ranges.PRICE) | dict[str, In(ranges.PRICE)] | None = None
    payment_per_period: In(ranges.PAYMENT) | None = None
    min_gpus: WholeIn(ranges.LEASE_GPUS) = 0
    max_gpus: WholeIn(ranges.LEASE_GPUS) | None = None
    all_or_nothing: bool = False
    whole_sites: bool = False
    group: str | None = None
    signed: bool = False
    lessee_pays_power: bool = False
    termination: Termination | None = None


class Scenario(Spec):
    """One possible future (SPEC section 6): the file's instance with `set` fields replaced."""

    name: Name
    probability: Positive
    set: dict[str, Any] = Field(default_factory=dict)
    lessee_exits: dict[str, WholeIn(ranges.PERIOD_INDEX)] = Field(default_factory=dict)


class Uncertainty(Spec):
    scenarios: list[Scenario] = Field(min_length=1)
    reveal_period: WholeIn(ranges.PERIOD_INDEX) = 0
    cvar_alpha: Num = Field(default=0.9, ge=0.0, lt=1.0)
    risk_weight: Num = Field(default=0.0, ge=0.0, le=1.0)


class Instance(Spec):
    """A planning instance exactly as the SPEC defines it (section 2)."""

    name: Name
    description: str | None = None
    currency: str = "USD"
    horizon: Horizon = Field(default_factory=Horizon)
    generations: list[Generation] = Field(min_length=1)
    sites: list[Site] = Field(min_length=1)
    training: list[TrainingRun] = Field(default_factory=list)
    inference: list[InferencePool] = Field(default_factory=list)
    leases: list[Lease] = Field(default_factory=list)
    uncertainty: Uncertainty | None = None

    @model_validator(mode="after")
    def _cross_references(self) -> Instance:
        problems = _check_names(self)
        if not problems and self.uncertainty is not None:
            from planner.scenarios import scenario_problems  # it builds instances: imported late

            problems = scenario_problems(self)
        if problems:
            raise InstanceError("<instance>", problems)
        return self

    # ----- derived quantities, shared by the model and the reports -----
    @property
    def T(self) -> int:
        return self.horizon.periods

    def discount_weights(self) -> np.ndarray:
        """w_t = (1+r)^(-t*H/8760)."""
        h = self.horizon
        t = np.arange(h.periods)
        return (1.0 + h.discount_rate) ** (-t * h.period_hours / 8760.0)

    def installed_gpus(self) -> np.ndarray:
        """GPUs installed, shape (generations, sites, periods), deliveries included."""
        g_index = {g.name: i for i, g in enumerate(self.generations)}
        out = np.zeros((len(self.generations), len(self.sites), self.T), dtype=np.int64)
        for s, site in enumerate(self.sites):
            for gen, n in site.inventory.items():
                out[g_index[gen], s, :] += n
            for d in site.deliveries:
                out[g_index[d.generation], s, d.period :] += d.gpus
        return out

    def usable_nodes(self) -> np.ndarray:
        """floor(installed / node_size), shape (generations, sites, periods)."""
        sizes = np.array([g.node_size for g in self.generations])[:, None, None]
        return self.installed_gpus() // sizes

    def window(self, consumer: Scoped) -> range:
        """The periods a consumer is active in."""
        start, end = consumer.periods or (0, self.T)
        return range(start, end)

    def allowed_generations(self, consumer: Scoped) -> list[int]:
        names = consumer.generations
        if isinstance(consumer, Lease) and isinstance(consumer.price_per_gpu_hour, dict):
            priced = consumer.price_per_gpu_hour
            names = [n for n in (priced if names is None else names) if n in priced]
        if names is None:
            return list(range(len(self.generations)))
        return [i for i, g in enumerate(self.generations) if g.name in names]

    def allowed_sites(self, consumer: Scoped) -> list[int]:
        if consumer.sites is None:
            return list(range(len(self.sites)))
        return [i for i, s in enumerate(self.sites) if s.name in consumer.sites]

    # ----- look-ups by name (KeyError lists the known names) -----
    def generation(self, name: str) -> Generation:
        return _named(self.generations, name, "generation")

    def site(self, name: str) -> Site:
        return _named(self.sites, name, "site")

    def training_run(self, name: str) -> TrainingRun:
        return _named(self.training, name, "training run")

    def inference_pool(self, name: str) -> InferencePool:
        return _named(self.inference, name, "inference pool")

    def lease(self, name: str) -> Lease:
        return _named(self.leases, name, "lease")

    def warnings(self) -> list[str]:
        """Non-fatal observations about the input (stranded GPUs, unleasable whole sites)."""
        out = []
        installed = self.installed_gpus()
        for g, gen in enumerate(self.generations):
            for s, site in enumerate(self.sites):
                runs = [(n, first, last) for n, first, last in period_runs(installed[g, s] % gen.node_size) if n]
                if runs:  # one line for all periods: "2 A GPUs stranded in periods 0-5, 4 in periods 6-11"
                    counts = ", ".join(f"{n} in {periods_text(first, last)}" for n, first, last in runs)
                    out.append(f"site {site.name}: {counts.replace(' in ', f' {gen.name} GPUs stranded in ', 1)} "
                               f"(installed GPUs beyond whole nodes of node_size {gen.node_size})")
        nodes = self.usable_nodes()
        for lease in self.leases:
            if not lease.whole_sites:
                continue
            window = list(self.window(lease))
            gens = self.allowed_generations(lease)
            for s in self.allowed_sites(lease):
                block = nodes[np.ix_(gens, [s], window)]
                if block.size and (block != block[..., :1]).any():
                    out.append(
                        f"lease {lease.name}: usable GPUs at site {self.sites[s].name} change during its "
                        f"term, so it cannot hold every GPU with the same block and cannot be accepted"
                    )
        return out


def period_runs(values: Any) -> list[tuple[Any, int, int]]:
    """(value, first period, last period) for each run of equal consecutive values."""
    runs: list[tuple[Any, int, int]] = []
    for t, v in enumerate(values):
        if runs and runs[-1][0] == v:
            runs[-1] = (v, runs[-1][1], t)
        else:
            runs.append((v, t, t))
    return runs


def periods_text(first: int, last: int) -> str:
    return f"period {first}" if first == last else f"periods {first}-{last}"


def _named(items: list, name: str, what: str) -> Any:
    for item in items:
        if item.name == name:
            return item
    raise KeyError(f"no {what} named {name!r} (known: {', '.join(i.name for i in items) or 'none'})")


def revalidated(inst: Instance) -> Instance:
    """The instance validated again as a whole: an in-place change inside a nested mapping or list
    (`lease.price_per_gpu_hour["H100"] = -5`) bypasses assignment validation. InstanceError if invalid."""
    return parse_instance(inst.model_dump(exclude_none=True, warnings=False), f"instance {inst.name}")


def _check_names(inst: Instance) -> list[tuple[str, str]]:
    """Cross-references the schema alone cannot see: names, periods, lease pricing rules."""
    problems: list[tuple[str, str]] = []
    gens = {g.name for g in inst.generations}
    sites = {s.name for s in inst.sites}
    T = inst.T

    hours = inst.horizon.periods * inst.horizon.period_hours
    if hours > ranges.HORIZON_HOURS.hi:
        problems.append(("horizon", f"periods x period_hours = {ranges.number(hours)} hours is outside the "
                                    f"supported range {ranges.HORIZON_HOURS}"))

    for section in ("generations", "sites", "training", "inference", "leases"):
        counts = Counter(item.name for item in getattr(inst, section))
        for i, item in enumerate(getattr(inst, section)):
            if counts[item.name] > 1:
                problems.append((f"{section}[{i}].name", f"duplicate name {excerpt(item.name)}"))

    def known(path: str, names: list[str] | None, universe: set[str], what: str) -> None:
        for j, n in enumerate(names or []):
            if n not in universe:
                problems.append((f"{path}[{j}]", f"unknown {what} {excerpt(n)} (known: {', '.join(_key(u) for u in sorted(universe))})"))

    for i, site in enumerate(inst.sites):
        for gen in site.inventory:
            if gen not in gens:
                problems.append((f"sites[{i}].inventory.{_key(gen)}", f"unknown generation {excerpt(gen)}"))
        for j, d in enumerate(site.deliveries):
            path = f"sites[{i}].deliveries[{j}]"
            if d.generation not in gens:
                problems.append((f"{path}.generation", f"unknown generation {excerpt(d.generation)}"))
            if d.period >= T:
                problems.append((f"{path}.period", f"period {d.period} is outside the horizon 0..{T - 1}"))
        if not any(p[0].startswith(f"sites[{i}]") for p in problems):
            total: Counter[str] = Counter(site.inventory)
            # Within a period, deliveries count before retirements: only the period's net total matters.
            for d in sorted(site.deliveries, key=lambda d: (d.period, -d.gpus)):
                total[d.generation] += d.gpus
                if total[d.generation] < 0:
                    problems.append((
                        f"sites[{i}].deliveries",
                        f"retirements take {d.generation} at site {excerpt(site.name)} below zero GPUs in period {d.period}",
                    ))
                    break
            if max(total.values(), default=0) > ranges.GPUS.hi:
                problems.append((f"sites[{i}].deliveries", f"deliveries take a generation above {ranges.number(ranges.GPUS.hi)} GPUs "
                                 f"at site {excerpt(site.name)}, outside the supported range {ranges.GPUS}"))

    for section in ("training", "inference", "leases"):
        for i, c in enumerate(getattr(inst, section)):
            path = f"{section}[{i}]"
            known(f"{path}.generations", c.generations, gens, "generation")
            known(f"{path}.sites", c.sites, sites, "site")
            if c.periods is not None:
                start, end = c.periods
                if not start < end <= T:
                    problems.append((f"{path}.periods", f"[{start}, {end}) must satisfy start < end <= {T} (the horizon)"))

    for i, run in enumerate(inst.training):
        if run.max_units is not None and run.max_units < run.min_units:
            problems.append((f"training[{i}].max_units", f"max_units {run.max_units} < min_units {run.min_units}"))

    for i, pool in enumerate(inst.inference):
        if pool.demand_scale is not None and len(pool.demand_scale) != T:
            problems.append((f"inference[{i}].demand_scale", f"has {len(pool.demand_scale)} values, needs one per period ({T})"))

    for i, lease in enumerate(inst.leases):
        path = f"leases[{i}]"
        priced, fixed = lease.price_per_gpu_hour is not None, lease.payment_per_period is not None
        if priced == fixed:
            problems.append((path, "give exactly one of price_per_gpu_hour and payment_per_period"))
        if fixed and not (lease.all_or_nothing or lease.whole_sites):
            problems.append((f"{path}.payment_per_period", "payment_per_period requires all_or_nothing or whole_sites"))
        if isinstance(lease.price_per_gpu_hour, dict):
            for gen in lease.price_per_gpu_hour:
                if gen not in gens:
                    problems.append((f"{path}.price_per_gpu_hour.{_key(gen)}", f"unknown generation {excerpt(gen)}"))
        if lease.all_or_nothing and lease.max_gpus is None:
            problems.append((f"{path}.max_gpus", "all_or_nothing needs max_gpus"))
        if lease.max_gpus is not None and lease.max_gpus < lease.min_gpus:
            problems.append((f"{path}.max_gpus", f"max_gpus {lease.max_gpus} < min_gpus {lease.min_gpus}"))
        if lease.termination is not None and lease.termination.earliest_period is not None:
            start, end = lease.periods or (0, T)
            if not start < lease.termination.earliest_period < end:
                problems.append((f"{path}.termination.earliest_period",
                                 f"{lease.termination.earliest_period} is outside the term: an end must be in "
                                 f"{start + 1}..{end - 1} (the term is [{start}, {end}))"))
        if fixed:
            problems += [(f"{path}.{field}", f"a fixed-payment lease with {why} can hold no GPU: "
                          f"a payment is never earned for nothing") for field, why in _empty_block(lease)]
    return problems


def _empty_block(lease: Lease) -> list[tuple[str, str]]:
    """The fields that leave a lease no GPU to hold (SPEC 2, Precise readings)."""
    found = [(field, f"{field}: []") for field in ("sites", "generations") if getattr(lease, field) == []]
    if lease.max_gpus == 0:
        found.append(("max_gpus", "max_gpus: 0"))
    return found


def _key(name: str) -> str:
    """A mapping key in a field path, cut short like any quoted value."""
    return name if len(name) <= ranges.EXCERPT else excerpt(name)


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{_key(str(part))}" if out else str(part))
    return out


def _pydantic_problems(err: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for e in err.errors():
        # Drop pydantic's union branch labels (`float`, `dict[str,...]`) from the path.
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and ("[" in p or p in ("float", "int", "str"))))
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        elif "input" in e and e["type"] not in ("missing", "value_error"):  # a range error quotes it already
            msg = f"{msg} (got {excerpt(e['input'])})"
        problems.append((_path(loc), msg))
    # A scalar-or-mapping union reports one error per branch: keep the most specific one.
    seen: dict[str, str] = {}
    for path, msg in problems:
        if not any(other.startswith(path + ".") for other, _ in problems):
            seen.setdefault(path, msg)
    return list(seen.items())


def parse_instance(data: Any, source: str = "<instance>") -> Instance:
    """Validate a decoded YAML/JSON document; raise InstanceError listing every problem."""
    if not isinstance(data, dict):
        raise InstanceError(source, [("", f"the instance must be a mapping, got {type(data).__name__}")])
    try:
        return Instance.model_validate(data)
    except ValidationError as err:
        raise InstanceError(source, _pydantic_problems(err)) from None
    except InstanceError as err:
        raise InstanceError(source, err.problems) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that rejects duplicate keys instead of silently keeping the last one."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    mapping = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _no_base_60(construct: Callable) -> Callable:
    """YAML 1.1 reads `1:30` as the base-60 number 90: keep it the text it looks like (a field that wants
    a number then says so) instead of a number nobody wrote."""
    def build(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
        return node.value if ":" in node.value else construct(loader, node)
    return build


for _tag, _construct in (("int", yaml.SafeLoader.construct_yaml_int), ("float", yaml.SafeLoader.construct_yaml_float)):
    _UniqueKeyLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _no_base_60(_construct))


def _unique_json_keys(pairs: list[tuple[str, Any]]) -> dict:
    """A JSON object hook that rejects duplicate keys, as the YAML loader does."""
    mapping = {}
    for key, value in pairs:
        if key in mapping:
            raise ValueError(f"duplicate key {key!r}")
        mapping[key] = value
    return mapping


def decode(text: str, source: str) -> Any:
    """Decode YAML or JSON text; nesting too deep for the parsers is bad input, not a crash."""
    try:
        return _decode(text, source)
    except RecursionError:
        raise InstanceError(source, [("", "malformed: nested deeper than the parser's limit "
                                          f"({sys.getrecursionlimit()} levels)")]) from None


def _decode(text: str, source: str) -> Any:
    """Decode YAML or JSON text (JSON is YAML, but its own parser gives better messages)."""
    if source.endswith(".json"):
        try:
            return json.loads(text, object_pairs_hook=_unique_json_keys)
        except json.JSONDecodeError as err:
            raise InstanceError(source, [("", f"malformed JSON at line {err.lineno}, column {err.colno}: {err.msg}")]) from None
        except ValueError as err:
            raise InstanceError(source, [("", f"malformed JSON: {err}")]) from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except (yaml.YAMLError, ValueError) as err:  # ValueError: an integer too long for int()
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = getattr(err, "problem", None) or str(err)
        raise InstanceError(source, [("", f"malformed YAML{where}: {what}")]) from None


def as_instance(instance: Instance | dict | str | Path) -> Instance:
    """What the library's entry points take: an Instance (validated again: see `revalidated`), a decoded
    document (a dict, as YAML or JSON gives it), or a file's path. InstanceError if invalid."""
    if isinstance(instance, Instance):
        return revalidated(instance)
    if isinstance(instance, dict):
        return parse_instance(instance)
    if isinstance(instance, (str, Path)):
        return load_instance(instance)
    raise TypeError(f"an instance is an Instance, a dict or a file path, not {type(instance).__name__}")


def load_instance(path: str | Path) -> Instance:
    """Load and validate an instance file (YAML or JSON)."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InstanceError(source, [("", f"cannot read file: {err}")]) from None
    return parse_instance(decode(text, source), source)
