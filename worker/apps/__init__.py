"""Programs Topolab ships to run inside lab nodes (each a ``python -m`` module).

They are small, standalone, standard-library-only tools that also run outside
Topolab; the engine starts them with argv lists inside a node's namespace and ends
them by PID. ``APPS`` maps the topology's ``Program.app`` names to modules, and
:func:`app_argv` builds the argv the engine runs, so the mapping lives in one place.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


class AppError(Exception):
    """An error an app reports as one line (``<app>: error: <message>``) before exiting 1."""


# Program.app -> (module, the option naming the device the link realizes)
APPS: dict[str, tuple[str, str]] = {
    "tunnel": ("worker.apps.tunnel", "--tun"),
    "tap-endpoint": ("worker.apps.tap_endpoint", "--tap"),
    "macvtap-reader": ("worker.apps.macvtap_reader", "--macvtap"),
    "hold": ("worker.apps.hold", "--dev"),
}


def app_argv(
    app: str, device: str, args: Sequence[str] = (), python: str = sys.executable
) -> list[str]:
    """Return the argv running ``app`` on the node interface ``device`` with user ``args``.

    The device option comes first, so a user argument cannot replace it silently
    (argparse keeps the last value; the apps reject a second device option instead).

    Raises:
        AppError: ``app`` is not one of :data:`APPS`.
    """
    try:
        module, device_option = APPS[app]
    except KeyError:
        raise AppError(f"unknown app {app!r}; known: {', '.join(sorted(APPS))}") from None
    return [python, "-m", module, device_option, device, *args]
