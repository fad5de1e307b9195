"""Runs the EventLog contract suite (contract.py) against every backend in conftest.BACKENDS."""

from .contract import *  # noqa: F403
