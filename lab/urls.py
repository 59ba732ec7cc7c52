"""URL map of the control plane: admin, the API, static files, the single-page app."""

from django.contrib import admin
from django.urls import path, re_path

from lab import views
from lab.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    re_path(r"^api/(?P<path>.*)$", views.api_not_found),
    re_path(r"^static/(?P<path>.+)$", views.static),
    re_path(r"^assets/(?P<path>.+)$", views.asset),
    re_path(r"^(?P<name>[A-Za-z0-9_.-]+\.[A-Za-z0-9]+)$", views.dist_file),
    # Every other path is a client-side route of the single-page app (/, /login,
    # /labs/12, /demos, /courses/...); ws/ belongs to Channels, never to Django.
    re_path(r"^(?P<route>(?!(?:ws|api|admin|static|assets)(?:/|$)).*)$", views.spa),
]
