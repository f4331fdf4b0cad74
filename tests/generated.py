"""Synthetic instances from scripts/generate_instance.py, for tests that need realistic sizes."""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path

from planner import Instance, parse_instance

ROOT = Path(__file__).parent.parent


@cache
def generator():
    """scripts/generate_instance.py, imported by path (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("generate_instance", ROOT / "scripts" / "generate_instance.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being created
    spec.loader.exec_module(module)
    return module


@cache
def generated(size: str, seed: int) -> Instance:
    return parse_instance(generator().generate(size, seed), f"generated {size} seed {seed}")
