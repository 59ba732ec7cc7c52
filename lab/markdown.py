"""Markdown written by people (exercise instructions, demo explanations) as safe HTML."""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def render_markdown(text: str) -> str:
    """Render Markdown to HTML safe to put in a page.

    Raw HTML is off in the parser, and nh3 sanitizes the output as well (links get
    ``rel="noopener noreferrer"``; scripts, handlers and javascript: URLs go).
    """
    return str(nh3.clean(_markdown.render(text or "")))
