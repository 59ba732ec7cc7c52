"""Which labs were opened from the demo library, and their last run.

Registered in the ``lab`` app by one import line at the end of ``lab/models.py``;
only ``lab/demos/services.py`` writes it.
"""

from __future__ import annotations

from django.db import models

__all__ = ["DemoLab"]


class DemoLab(models.Model):
    """A lab made from a demo of the library: the demo's slug and what its last run showed."""

    lab = models.OneToOneField(
        "lab.Lab", on_delete=models.CASCADE, primary_key=True, related_name="demo"
    )
    slug = models.CharField(max_length=64)
    last_run = models.JSONField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "lab"

    def __str__(self) -> str:
        return f"demo {self.slug} (lab {self.lab_id})"
