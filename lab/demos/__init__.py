"""The demo library (issue 8): ready labs with explanations, traffic and journeys."""

from .catalog import DEMOS, Demo, JourneySpec, Probe, get_demo

__all__ = ["DEMOS", "Demo", "JourneySpec", "Probe", "get_demo"]
