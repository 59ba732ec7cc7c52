"""The migration files describe the models: `make run` migrates, the tests build tables.

pytest runs with ``--no-migrations``, so the check runs in a child process with the
project's real settings, the same way `make run` would see them.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_models_and_migrations_agree() -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "lab", "--check", "--dry-run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"models changed without a migration:\n{done.stdout}{done.stderr}"
    assert "No changes detected" in done.stdout
