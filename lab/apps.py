"""Django app configuration for Topolab."""

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class LabConfig(AppConfig):
    """The Topolab control-plane app."""

    # Two configs live here: this one is what INSTALLED_APPS' "lab" means.
    default = True
    name = "lab"
    verbose_name = "Topolab"
    default_auto_field = "django.db.models.BigAutoField"


class TopolabAdminConfig(admin_apps.AdminConfig):
    """Django's admin app with Topolab's site (``lab.adminsite``): superusers only."""

    default = False
    default_site = "lab.adminsite.TopolabAdminSite"
