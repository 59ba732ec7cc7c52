"""Topolab's control plane: the Django project and app (never runs as root)."""
