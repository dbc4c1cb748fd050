"""Measurements behind the documented decisions, run from the repository root as
``python -m experiments.NAME`` (see docs/decisions/). Not installed: nothing in ``policyqa`` imports them."""
