"""Settings for creating the e2e database: the project's, with `lab` tables made straight
from the models while `lab/migrations` holds no migration yet (the lead adds the initial
one at the end; from then on this is plain `migrate`)."""

from pathlib import Path

from lab.settings import *  # noqa: F403

if not any(Path(__file__).resolve().parents[2].joinpath("lab", "migrations").glob("0*.py")):
    MIGRATION_MODULES = {"lab": None}
