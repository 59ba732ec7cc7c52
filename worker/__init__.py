"""Topolab's data plane: runs on a lab host as root and builds labs in the kernel."""
