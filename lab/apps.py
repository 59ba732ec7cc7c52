"""Django app configuration for Topolab."""

from django.apps import AppConfig


class LabConfig(AppConfig):
    """The Topolab control-plane app."""

    name = "lab"
    verbose_name = "Topolab"
    default_auto_field = "django.db.models.BigAutoField"
