"""The guest's side: run pytest as the host asked in ``run.json``; leave the exit status.

``init.sh`` starts it as ``python -m tests.guest.runner /run/guest`` (the results share).
The ``inside`` plugin keeps only the tests the host asked for and writes their reports.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

RUN_FILE = "run.json"
EXIT_FILE = "exit"
# Python runs some 20 times slower under TCG: entry-point plugins (hypothesis, schemathesis,
# ...) would cost ~40 s and Django's setup ~30 s, and the guest's tests need neither (the
# host leaves pytest-django's options out of the addopts it sends). The end-of-session
# garbage collection of unraisableexception costs ~10 s there.
PLUGINS = ("pytest_timeout", "no:unraisableexception", "tests.guest.inside")


def main(argv: list[str]) -> int:
    """Run the session described by ``<run dir>/run.json``; return pytest's exit status."""
    import pytest

    run_dir = Path(argv[1])
    spec = json.loads((run_dir / RUN_FILE).read_text())
    os.chdir(spec["rootdir"])  # node ids are relative to it
    os.environ.update(spec.get("env", {}))
    os.environ["TOPOLAB_IN_GUEST"] = "1"
    os.environ["TOPOLAB_GUEST_RUN_DIR"] = str(run_dir)
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    # tests/conftest.py reads the database settings (not the app registry).
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lab.settings")
    os.makedirs(os.environ.setdefault("TOPOLAB_VAR_DIR", "/tmp/topolab-var"), exist_ok=True)
    plugins = [arg for name in PLUGINS for arg in ("-p", name)]
    # Options of plugins left out (asyncio_mode, DJANGO_SETTINGS_MODULE) are expected.
    quiet = ["-W", "ignore::pytest.PytestConfigWarning"]
    code = int(pytest.main([*spec["args"], *plugins, *quiet]))
    (run_dir / EXIT_FILE).write_text(f"{code}\n")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
