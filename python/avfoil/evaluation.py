"""Whole evaluations (scenario files, as ``avfoil eval``) and the registries' contents."""

from __future__ import annotations

import json
import os

from . import _native


def evaluate(scenario, out, resume: bool = False) -> dict:
    """Runs the scenario file ``scenario`` (see docs/eval.md) into the folder ``out``, as
    ``avfoil eval --scenario SCENARIO --out OUT`` does (records, ``summary.json``, ``report.html``),
    and returns the summary. ``resume=True`` continues an interrupted run in ``out``."""
    return json.loads(_native.evaluate(os.fspath(scenario), os.fspath(out), bool(resume)))


def catalog() -> dict:
    """Every registered attack and defence: ``{"attacks": [...], "defences": [...]}``, each with
    its name, one line about it and its parameters (key, default, meaning), as ``avfoil list``."""
    return json.loads(_native.catalog())
