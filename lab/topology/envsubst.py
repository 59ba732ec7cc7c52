"""Environment variable substitution as containerlab applies it to a topology file.

containerlab expands ``$VAR`` and ``${VAR...}`` in the whole text of a file
before reading it as YAML, with its envsubst library in "no replace" mode:

=================  ==========================================================
``${VAR}``          the value of VAR (same as ``$VAR``); left as written when
                    VAR is not set
``${VAR-DEF}``      DEF when VAR is not set (``=`` is the same: nothing is
                    assigned)
``${VAR:-DEF}``     DEF when VAR is not set or empty (``:=`` is the same)
``${VAR+ALT}``      ALT when VAR is set, else nothing (``:+`` is the same)
``$$``              a literal ``$``
=================  ==========================================================

DEF and ALT may hold further expressions. Names start with a letter or ``_``
(``$1`` and ``$_`` stay as written). The values come from the caller: this
module never reads the process environment, so a server that imports a file
for a user does not leak its own variables into the lab.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Source = Literal["env", "default", "unset"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPS = (":-", ":=", ":+", "-", "=", "+")
MAX_NESTING = 16  # ${A:-${B:-...}}: a real file nests one or two levels
MAX_OUTPUT = 4 * 1024 * 1024  # characters; an env value repeated can grow the text


@dataclass(frozen=True, slots=True)
class Use:
    """One variable the text refers to, and what it became.

    ``source`` is ``env`` (the caller's value), ``default`` (the expression's
    default or alternative was used) or ``unset`` (left as written).
    ``offset`` is where the expression's result starts in the output text.
    """

    name: str
    source: Source
    value: str
    expression: str
    offset: int


class SubstitutionError(ValueError):
    """An expression containerlab's envsubst would refuse (an unclosed ``${``)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


class _Expander:
    def __init__(self, text: str, env: Mapping[str, str]) -> None:
        self.text = text
        self.env = env
        self.uses: list[Use] = []
        self.size = 0

    def _grow(self, piece: str) -> str:
        self.size += len(piece)
        if self.size > MAX_OUTPUT:
            raise SubstitutionError(
                f"the file grows past {MAX_OUTPUT} characters once variables are expanded", 0
            )
        return piece

    def run(self, start: int, stop_at_brace: bool, depth: int, base: int) -> tuple[str, int]:
        """Expand from ``start``; stop at an unmatched ``}`` when ``stop_at_brace``.

        ``base`` is where this piece lands in the output (for ``Use.offset``).
        Returns the expanded text and the index after what was consumed.
        """
        text = self.text
        out: list[str] = []
        length = 0  # of out, for the offsets of uses
        i = start
        n = len(text)
        while i < n:
            ch = text[i]
            if stop_at_brace and ch == "}":
                return "".join(out), i
            piece: str
            if ch != "$":
                j = i + 1
                while j < n and text[j] != "$" and not (stop_at_brace and text[j] == "}"):
                    j += 1
                piece, i = text[i:j], j
            elif text.startswith("$$", i):
                piece, i = "$", i + 2
            elif text.startswith("${", i):
                piece, i = self._braced(i, depth, base + length)
            else:
                match = _NAME.match(text, i + 1)
                if match is None or match.group() == "_":
                    piece, i = "$", i + 1
                else:
                    name, expression = match.group(), text[i : match.end()]
                    if name in self.env:
                        piece = self.env[name]
                        self.uses.append(Use(name, "env", piece, expression, base + length))
                    else:
                        piece = expression
                        self.uses.append(Use(name, "unset", piece, expression, base + length))
                    i = match.end()
            out.append(self._grow(piece))
            length += len(piece)
        if stop_at_brace:
            raise SubstitutionError("a ${ is not closed by }", start)
        return "".join(out), i

    def _braced(self, i: int, depth: int, here: int) -> tuple[str, int]:
        """Expand the ``${...}`` starting at ``i``; return its text and the index after it."""
        text = self.text
        if depth >= MAX_NESTING:
            raise SubstitutionError(f"variables are nested more than {MAX_NESTING} deep", i)
        match = _NAME.match(text, i + 2)
        if match is None or match.group() == "_":
            # ${1}, ${_} or another form the library leaves alone: keep it as written.
            close = text.find("}", i + 2)
            if close < 0:
                raise SubstitutionError("a ${ is not closed by }", i)
            return text[i : close + 1], close + 1
        name = match.group()
        j = match.end()
        op = next((o for o in _OPS if text.startswith(o, j)), None)
        if op is None:
            if j < len(text) and text[j] == "}":
                expression = text[i : j + 1]
                if name in self.env:
                    value = self.env[name]
                    self.uses.append(Use(name, "env", value, expression, here))
                    return value, j + 1
                self.uses.append(Use(name, "unset", expression, expression, here))
                return expression, j + 1
            close = text.find("}", j)
            if close < 0:
                raise SubstitutionError("a ${ is not closed by }", i)
            raise SubstitutionError(
                f"{text[i : close + 1]!r} is not an expression containerlab understands "
                "(use ${VAR}, ${VAR:-default}, ${VAR:=default} or ${VAR:+other})",
                i,
            )
        mark = len(self.uses)
        word, end = self.run(j + len(op), True, depth + 1, here)
        expression = text[i : end + 1]
        is_set = name in self.env
        empty = is_set and self.env[name] == ""
        if op in ("-", "="):
            use_word = not is_set
        elif op in (":-", ":="):
            use_word = not is_set or empty
        else:  # "+", ":+": the library gives the alternative for any set variable
            use_word = is_set
        source: Source
        if op in ("+", ":+"):
            value, source = (word, "env") if use_word else ("", "default")
        elif use_word:
            value, source = word, "default"
        else:
            value, source = self.env[name], "env"
        if not use_word:
            del self.uses[mark:]  # the default was not used: neither were its variables
        self.uses.insert(mark, Use(name, source, value, expression, here))
        return value, end + 1


def substitute(text: str, env: Mapping[str, str] | None = None) -> tuple[str, list[Use]]:
    """Expand the variables of ``text`` with the values in ``env`` (none by default).

    Returns the new text and one ``Use`` per variable met, in order.

    Raises:
        SubstitutionError: on an unclosed ``${``, a form containerlab refuses,
            nesting deeper than ``MAX_NESTING`` or a result over ``MAX_OUTPUT``.
    """
    if "$" not in text:
        return text, []
    expander = _Expander(text, env or {})
    result, _ = expander.run(0, False, 0, 0)
    return result, expander.uses


__all__ = ["MAX_NESTING", "MAX_OUTPUT", "SubstitutionError", "Use", "substitute"]
