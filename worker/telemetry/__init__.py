"""Live telemetry on a lab host: counters, captures, packet journeys, consoles."""
