"""Every name Topolab puts into the kernel comes from here.

Namespaces are ``tl-<lab>-<node>``; interfaces keep the names users gave them
(15 characters at most, as the kernel wants); every object Topolab makes is
tagged with its owner (an interface alias), and cleanup trusts the tag, never
the name alone.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection

IFNAMSIZ = 15  # usable characters: the kernel's IFNAMSIZ (16) less the NUL
NS_PREFIX = "tl-"
HOST_NS_PREFIX = "tlh-"
OWNER_PREFIX = "topolab"
LAB_KEY_MAX = 24
NODE_NAME_MAX = 32

_LAB_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_]{0,23}$")
_NODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# The kernel's dev_valid_name(): no '/', ':' or white space, not "." or "..".
_IF_BAD_CHARS = re.compile(r"[/:\s]")


def check_ifname(name: str) -> list[tuple[str, str]]:
    """Return ``(code, message)`` for every reason the kernel would refuse ``name``."""
    problems: list[tuple[str, str]] = []
    if not name:
        problems.append(("name.empty", "interface name is empty"))
        return problems
    if len(name.encode()) > IFNAMSIZ:
        problems.append(
            ("name.too_long", f"interface name {name!r} is longer than {IFNAMSIZ} bytes")
        )
    if name in {".", ".."} or _IF_BAD_CHARS.search(name) or not name.isascii():
        problems.append(
            (
                "name.invalid_chars",
                f"interface name {name!r} has characters the kernel refuses "
                "(use ASCII letters, digits, '-', '_' or '.')",
            )
        )
    return problems


def check_node_name(name: str) -> list[tuple[str, str]]:
    """Return ``(code, message)`` for every reason ``name`` cannot name a node."""
    if not name:
        return [("name.empty", "node name is empty")]
    problems: list[tuple[str, str]] = []
    if len(name) > NODE_NAME_MAX:
        problems.append(
            ("name.too_long", f"node name {name!r} is longer than {NODE_NAME_MAX} characters")
        )
    if not _NODE_RE.match(name) or not name.isascii():
        problems.append(
            (
                "name.invalid_chars",
                f"node name {name!r} may hold only ASCII letters, digits, '-', '_' and '.', "
                "starting with a letter or digit",
            )
        )
    return problems


def lab_key(label: str) -> str:
    """Turn a lab label (a database id or a topology name) into a short kernel-safe key.

    The key is lower-case ASCII letters, digits and ``_``; a label that does not
    fit gets a stable hash suffix so two different labels never share a key.
    """
    slug = re.sub(r"[^a-z0-9_]+", "_", label.lower()).strip("_") or "lab"
    if slug == label and _LAB_KEY_RE.match(slug):
        return slug
    digest = hashlib.sha256(label.encode()).hexdigest()[:6]
    return f"{slug[: LAB_KEY_MAX - 7]}_{digest}"


def is_lab_key(key: str) -> bool:
    """Return whether ``key`` is a valid lab key."""
    return bool(_LAB_KEY_RE.match(key))


def namespace_name(lab: str, node: str) -> str:
    """Return the network namespace name of ``node`` in lab ``lab``."""
    return f"{NS_PREFIX}{lab}-{node}"


def host_namespace_name(host: str) -> str:
    """Return the underlay namespace name used for a lab host in multi-host tests."""
    return f"{HOST_NS_PREFIX}{host}"


def owner_alias(lab: str, node: str | None = None) -> str:
    """Return the alias that tags an object as Topolab's, owned by ``lab``.

    On ``lo`` of a node's namespace the alias also names the node, which is how
    discovery tells a Topolab namespace from anybody else's.
    """
    return f"{OWNER_PREFIX}:{lab}" if node is None else f"{OWNER_PREFIX}:{lab}:{node}"


def parse_owner_alias(alias: str | None) -> tuple[str, str | None] | None:
    """Return ``(lab, node)`` from an owner alias, or None if it is not Topolab's."""
    if not alias:
        return None
    parts = alias.split(":")
    if parts[0] != OWNER_PREFIX or len(parts) not in (2, 3) or not is_lab_key(parts[1]):
        return None
    return parts[1], (parts[2] if len(parts) == 3 else None)


def _digest(text: str, salt: int) -> str:
    return hashlib.sha256(f"{salt}\0{text}".encode()).hexdigest()


def _unique(readable: str, original: str, limit: int, taken: Collection[str]) -> str:
    """Return ``readable`` if it is free, else a stable hashed variant of it."""
    if readable not in taken:
        return readable
    salt = 0
    while True:  # a collision on 4 hex digits twice in one node is vanishingly rare
        name = f"{readable[: limit - 5]}-{_digest(original, salt)[:4]}"
        if name not in taken:
            return name
        salt += 1


def kernel_ifname(name: str, taken: Collection[str] = ()) -> str:
    """Return a name the kernel accepts for an interface called ``name`` elsewhere.

    A valid name is kept. Otherwise the mapping is deterministic and readable,
    in the spirit of containerlab's own altnames: ``/``, ``:``, white space and
    non-ASCII characters become ``-`` (``ethernet-1/1`` -> ``ethernet-1-1``); a
    name still longer than 15 characters keeps two letters of its leading word
    and its numbers (``GigabitEthernet0/0/0/1`` -> ``Gi0-0-0-1``), or is cut and
    given a hash. A name in ``taken`` (the node's other interfaces) is never
    returned: a clash gets a hashed variant instead.
    """
    if not check_ifname(name) and name not in taken:
        return name
    readable = "".join("-" if ch in "/:" or ch.isspace() or not ch.isascii() else ch for ch in name)
    if len(readable) > IFNAMSIZ:
        word = re.match(r"[A-Za-z]+", readable)
        # Only a word followed by numbers: "GigabitEthernet0/1" -> "Gi0-1" keeps its meaning.
        rest = readable[word.end() :] if word is not None else ""
        if word is not None and len(word.group()) > 2 and re.search(r"\d", rest):
            readable = word.group()[:2] + rest
    if len(readable) > IFNAMSIZ:
        readable = f"{readable[: IFNAMSIZ - 5]}-{_digest(name, 0)[:4]}"
    if readable in {"", ".", ".."}:
        readable = f"if-{_digest(name, 0)[:8]}"
    return _unique(readable, name, IFNAMSIZ, taken)


def node_name_for(name: str, taken: Collection[str] = ()) -> str:
    """Return a valid node name for a node called ``name`` elsewhere (e.g. ``a|b`` -> ``a-b``).

    A valid name is kept; otherwise every character a node name may not hold
    becomes ``-``, a name longer than ``NODE_NAME_MAX`` is cut and given a
    hash, and a name in ``taken`` is never returned.
    """
    if not check_node_name(name) and name not in taken:
        return name
    readable = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "_.-") else "-" for ch in name)
    readable = re.sub(r"^[^A-Za-z0-9]+", "", readable) or f"node-{_digest(name, 0)[:6]}"
    if len(readable) > NODE_NAME_MAX:
        readable = f"{readable[: NODE_NAME_MAX - 5]}-{_digest(name, 0)[:4]}"
    return _unique(readable, name, NODE_NAME_MAX, taken)


def temp_ifname(*parts: str) -> str:
    """Return a unique, stable temporary interface name for the given parts.

    Used while a device is made in one namespace and moved and renamed into
    another, so that two labs never collide on the transit name.
    """
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:11]
    return f"tlt{digest}"
