"""SPEC section 6 on the input side: each scenario's own instance, its lessee exits, and the periods at
which the operator may end a lease. Shared by the model, the verifier and the reports.

Without `uncertainty` an instance is one scenario ("base", probability 1, reveal period 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from planner.instance import Instance, InstanceError, Lease, parse_instance
from planner.paths import set_path

BASE = "base"
# What scenarios share, so `set` may not change it (SPEC section 6). `periods` of a training run or an
# inference pool are shared too (project reading, SPEC.md): they decide which of its decisions are first stage.
SHARED_FIELDS = {
    "generations": {"node_size"},
    "leases": {"periods", "generations", "sites", "min_gpus", "max_gpus", "whole_sites", "all_or_nothing",
               "group", "signed", "termination"},
    "training": {"periods"},
    "inference": {"periods"},
}


@dataclass
class Case:
    """One scenario, ready to model: its instance (without `uncertainty`) and its lessee exits."""

    name: str
    probability: float
    instance: Instance
    exits: dict[int, int] = field(default_factory=dict)  # lease index -> period the lessee ends it


def reveal_period(inst: Instance) -> int:
    return 0 if inst.uncertainty is None else inst.uncertainty.reveal_period


def cases(inst: Instance) -> list[Case]:
    """The scenarios of an instance, each with its own validated instance."""
    if inst.uncertainty is None:
        return [Case(BASE, 1.0, inst)]
    base = inst.model_dump(exclude={"uncertainty"})
    index = {lease.name: k for k, lease in enumerate(inst.leases)}
    return [
        Case(sc.name, sc.probability, _scenario_instance(base, sc.set, f"scenario {sc.name!r}"),
             {index[name]: e for name, e in sc.lessee_exits.items()})
        for sc in inst.uncertainty.scenarios
    ]


def _scenario_instance(base: dict, fields: dict, label: str) -> Instance:
    data = base
    for path, value in fields.items():
        data = set_path(data, path, value)
    return parse_instance(data, label)


def operator_ends(inst: Instance, lease: Lease, reveal: int) -> list[int]:
    """Periods e at which the operator may end `lease`: max(earliest_period, reveal + notice) <= e < term end."""
    right = lease.termination
    if right is None:
        return []
    window = inst.window(lease)
    earliest = window.start + 1 if right.earliest_period is None else right.earliest_period
    return list(range(max(earliest, reveal + right.notice_periods), window.stop))


def has_ends(inst: Instance) -> bool:
    """Whether any lease may end before its term in some scenario (a termination right or a lessee exit)."""
    exits = inst.uncertainty is not None and any(sc.lessee_exits for sc in inst.uncertainty.scenarios)
    return exits or any(lease.termination is not None for lease in inst.leases)


def _shared(path: str) -> bool:
    parts = path.split(".")
    return parts[0] == "horizon" or (len(parts) >= 3 and parts[2] in SHARED_FIELDS.get(parts[0], ()))


def scenario_problems(inst: Instance) -> list[tuple[str, str]]:
    """Every problem with `uncertainty`, each naming the scenario and the path (SPEC section 6)."""
    unc = inst.uncertainty
    problems: list[tuple[str, str]] = []
    total = sum(sc.probability for sc in unc.scenarios)
    if abs(total - 1.0) > 1e-9:
        problems.append(("uncertainty.scenarios", f"probabilities add up to {total:.12g}, not 1"))
    if unc.reveal_period > inst.T:
        problems.append(("uncertainty.reveal_period", f"{unc.reveal_period} is outside 0..{inst.T} (the horizon)"))
    seen: set[str] = set()
    base = inst.model_dump(exclude={"uncertainty"})
    leases = {lease.name: lease for lease in inst.leases}
    for i, sc in enumerate(unc.scenarios):
        where, label = f"uncertainty.scenarios[{i}]", f"scenario {sc.name!r}"
        if sc.name in seen:
            problems.append((f"{where}.name", f"duplicate scenario name {sc.name!r}"))
        seen.add(sc.name)
        for name, e in sc.lessee_exits.items():
            if name not in leases:
                problems.append((f"{where}.lessee_exits.{name}",
                                 f"{label}: unknown lease {name!r} (leases: {', '.join(leases) or 'none'})"))
                continue
            window = inst.window(leases[name])
            if not window.start <= e < window.stop:
                problems.append((f"{where}.lessee_exits.{name}", f"{label}: period {e} is outside the lease's term "
                                 f"[{window.start}, {window.stop})"))
        settable = {}
        for path, value in sc.set.items():
            if _shared(path):
                problems.append((f"{where}.set.{path}", f"{label}: {path} is shared by all scenarios and may not be set"))
                continue
            try:
                set_path(base, path, value)
            except ValueError as err:  # an unknown path
                problems.append((f"{where}.set.{path}", f"{label}: {err}"))
                continue
            settable[path] = value
        if len(settable) < len(sc.set):
            continue
        try:
            own = _scenario_instance(base, settable, label)
        except InstanceError as err:
            problems += [(f"{where}.set", f"{label}: {path or '(top level)'}: {msg}") for path, msg in err.problems]
            continue
        for k, lease in enumerate(inst.leases):
            if own.allowed_generations(own.leases[k]) != inst.allowed_generations(lease):
                problems.append((f"{where}.set.leases.{lease.name}.price_per_gpu_hour",
                                 f"{label}: changes which generations lease {lease.name!r} takes (shared by all scenarios)"))
    return problems


def cut_terms(inst: Instance, ends: dict[str, int]) -> Instance:
    """The instance with each ended lease's term cut at its end (a lease ended before it starts is
    removed), and no termination rights: a plain section 2-4 instance."""
    data = inst.model_dump(exclude={"uncertainty"})
    kept = []
    for lease in data["leases"]:
        lease.pop("termination", None)
        start, stop = lease["periods"] or (0, inst.T)
        end = min(ends.get(lease["name"], stop), stop)
        if end <= start:
            continue
        lease["periods"] = None if (start, end) == (0, inst.T) else [start, end]
        kept.append(lease)
    data["leases"] = kept
    return parse_instance(data, f"{inst.name} (terms cut)")
