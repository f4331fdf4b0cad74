"""Field paths, `section.NAME.field[.key]`: how a sweep (`--vary`) and a scenario (SPEC section 6,
`set`) name one field of an instance, e.g. `leases.lab-a.price_per_gpu_hour`,
`sites.memphis-1.inventory.H100` or `horizon.discount_rate`."""

from __future__ import annotations

import copy
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from planner.instance import Generation, Horizon, InferencePool, Lease, Site, TrainingRun

LISTS: dict[str, type[BaseModel]] = {
    "generations": Generation, "sites": Site, "training": TrainingRun, "inference": InferencePool, "leases": Lease,
}
MAPPINGS = {("sites", "inventory"), ("leases", "price_per_gpu_hour")}  # mappings keyed by generation name


def set_path(data: dict, path: str, value: Any) -> dict:
    """A deep copy of an instance dict with the field at `path` set; the caller re-validates it."""
    out = copy.deepcopy(data)
    parts = path.split(".")
    section = parts[0]
    if section == "horizon":
        target, model, where, rest = out.setdefault("horizon", {}), Horizon, "horizon", parts[1:]
    elif section in LISTS:
        if len(parts) < 2:
            raise ValueError(f"{path}: name an element after {section!r}, e.g. {section}.NAME.field")
        names = [item.get("name") for item in out.get(section) or []]
        if parts[1] not in names:
            raise ValueError(f"{path}: no {section} named {parts[1]!r} (names: {_listing(names)})")
        target, model, where = out[section][names.index(parts[1])], LISTS[section], f"{section}.{parts[1]}"
        rest = parts[2:]
    else:
        raise ValueError(f"{path}: unknown section {section!r} (sections: {_listing(['horizon', *LISTS])})")
    fields = [f for f in model.model_fields if f != "name"]
    if not rest or rest[0] not in fields:
        what = f"unknown field {rest[0]!r} of" if rest else "name a field of"
        raise ValueError(f"{path}: {what} {where} (fields: {_listing(fields)})")
    field, keys = rest[0], rest[1:]
    if keys or isinstance(target.get(field), dict) or (section, field) == ("sites", "inventory"):
        _mapping(target, (section, field), keys, out, path)[keys[0]] = value
    else:
        target[field] = value
    return out


def holds_a_list(path: str) -> bool:
    """Whether the field `path` names takes a list (`periods`, `demand`, `demand_scale`, ...), which one
    number per sweep point cannot set; False for a path that names no field (set_path says why)."""
    section, *rest = path.split(".")
    model = Horizon if section == "horizon" else LISTS.get(section)
    name = rest[0] if section == "horizon" and rest else rest[1] if len(rest) > 1 else None
    return model is not None and name in model.model_fields and _is_list(model.model_fields[name].annotation)


def _is_list(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType, Annotated):
        return any(_is_list(arg) for arg in get_args(annotation))
    return origin is list


def _mapping(target: dict, kind: tuple[str, str], keys: list[str], data: dict, path: str) -> dict:
    """The mapping by generation (`inventory`, a per-generation price) that `path` sets a key of."""
    field = kind[1]
    if kind not in MAPPINGS:
        raise ValueError(f"{path}: {field} is a single value; drop {'.'.join(keys)!r}")
    current = target.get(field)
    if current is not None and not isinstance(current, dict):
        raise ValueError(f"{path}: {field} is a single price here, not a mapping; sweep {path.rsplit('.', 1)[0]}")
    generations = [g.get("name") for g in data.get("generations") or []]
    if len(keys) != 1 or keys[0] not in generations:
        got = f"unknown generation {keys[0]!r}" if len(keys) == 1 else "name exactly one generation"
        raise ValueError(f"{path}: {field} is a mapping by generation; {got} (generations: {_listing(generations)})")
    if current is None:
        target[field] = {}
    return target[field]


def _listing(names: list) -> str:
    return ", ".join(str(n) for n in names) or "none"
