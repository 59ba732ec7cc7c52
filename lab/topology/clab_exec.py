"""What a containerlab ``exec`` line asks of a node, as data.

containerlab runs each ``exec`` line in the node after its links exist. The
lines that matter for a namespace lab are ``ip`` commands (addresses, links,
bridges, VXLAN devices, routes) and forwarding sysctls, written the way people
write them: iproute2's abbreviations (``ip a a``, ``ip l s``, ``ip r a``), the
device before or after its arguments, ``-4``/``-6``, and several commands
joined in one ``sh -c '... && ...'``. ``parse_exec`` turns a line into one
command per step; a step it does not understand becomes ``NotUnderstood``
with the reason, so the importer can name it. Nothing here touches a node.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from ipaddress import ip_address, ip_interface, ip_network

_SHELLS = {"sh", "bash", "ash", "dash", "zsh"}
_FORWARDING = {
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.forwarding",
    "net.ipv6.conf.all.forwarding",
}
_PACKAGE_TOOLS = {"apk", "apt", "apt-get", "yum", "dnf", "pip", "pip3"}
_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
_NOOPS = {"true", ":", "sleep"}  # they change nothing a lab could carry


@dataclass(frozen=True, slots=True)
class AddAddress:
    """``ip addr add ADDRESS dev DEV``."""

    dev: str
    address: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SetLink:
    """``ip link set DEV ...``: the attributes the line sets (None: left alone)."""

    dev: str
    up: bool | None = None
    mtu: int | None = None
    mac: str | None = None
    master: str | None = None
    nomaster: bool = False
    stp: bool | None = None


@dataclass(frozen=True, slots=True)
class AddBridge:
    """``ip link add NAME type bridge [stp_state N]``."""

    name: str
    stp: bool | None = None
    mtu: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AddVxlan:
    """``ip link add NAME type vxlan id VNI [remote|group IP] [local IP] [dstport P] [dev IF]``."""

    name: str
    vni: int
    remote: str | None = None
    group: str | None = None
    local: str | None = None
    dstport: int | None = None
    dev: str | None = None
    ttl: int | None = None
    learning: bool = True
    mtu: int | None = None


@dataclass(frozen=True, slots=True)
class AddDummy:
    """``ip link add NAME type dummy``."""

    name: str
    mtu: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AddRoute:
    """``ip route add|replace DST [via ADDR] [dev DEV] [metric N]``; DST may be ``default``."""

    dst: str
    family: int
    via: str | None = None
    dev: str | None = None
    metric: int | None = None


@dataclass(frozen=True, slots=True)
class DeleteRoute:
    """``ip route del DST``."""

    dst: str
    family: int


@dataclass(frozen=True, slots=True)
class SetSysctl:
    """``sysctl -w KEY=VALUE`` (or ``echo VALUE > /proc/sys/...``)."""

    key: str
    value: str

    @property
    def forwarding(self) -> bool | None:
        """Whether this turns IP forwarding on or off; None for another sysctl."""
        if self.key in _FORWARDING and self.value in ("0", "1"):
            return self.value == "1"
        return None


@dataclass(frozen=True, slots=True)
class Nothing:
    """A step that changes nothing a lab carries (``ip link set dev eth1 up``, ``sleep 2``)."""

    text: str


@dataclass(frozen=True, slots=True)
class NotUnderstood:
    """A step Topolab cannot carry, and why."""

    text: str
    reason: str


Command = (
    AddAddress
    | SetLink
    | AddBridge
    | AddDummy
    | AddVxlan
    | AddRoute
    | DeleteRoute
    | SetSysctl
    | Nothing
    | NotUnderstood
)


class _Refused(Exception):
    """Internal: the step is not understood, with the reason."""


def _matches(word: str, full: str) -> bool:
    """iproute2's ``matches()``: ``word`` is a non-empty prefix of ``full``."""
    return bool(word) and full.startswith(word)


def _int(text: str, what: str, low: int, high: int) -> int:
    if not text.isdigit() or not low <= int(text) <= high:
        raise _Refused(f"{what} {text!r} is not a number from {low} to {high}")
    return int(text)


def _take(args: list[str], i: int, what: str) -> str:
    if i + 1 >= len(args):
        raise _Refused(f"{what} needs a value")
    return args[i + 1]


def _addr(args: list[str], family: int) -> AddAddress:
    dev: str | None = None
    local: str | None = None
    i = 0
    while i < len(args):
        word = args[i]
        if word == "dev":
            dev = _take(args, i, "dev")
            i += 2
        elif word == "local":
            local = _take(args, i, "local")
            i += 2
        elif word in ("brd", "broadcast") and i + 1 < len(args) and args[i + 1] == "+":
            i += 2  # the usual broadcast address, which the kernel derives anyway
        elif local is None and not word.startswith("-") and word not in ("peer", "label"):
            local = word
            i += 1
        else:
            raise _Refused(f"the address option {word!r} is not carried")
    if dev is None or local is None:
        raise _Refused("an address needs both ADDRESS and dev DEVICE")
    try:
        address = ip_interface(local)
    except ValueError:
        raise _Refused(f"{local!r} is not an IP address with a prefix length") from None
    if family and address.version != family:
        raise _Refused(f"{local} is not an IPv{family} address")
    return AddAddress(dev, str(address))


def _bridge_opts(opts: list[str]) -> tuple[bool | None, list[str]]:
    """Take ``stp_state N`` from bridge options; return it and what is left."""
    stp: bool | None = None
    rest: list[str] = []
    i = 0
    while i < len(opts):
        if opts[i] == "stp_state" and i + 1 < len(opts) and opts[i + 1] in ("0", "1"):
            stp = opts[i + 1] == "1"
            i += 2
        else:
            rest.append(opts[i])
            i += 1
    return stp, rest


def _link_set(args: list[str]) -> SetLink | Nothing:
    dev: str | None = None
    up: bool | None = None
    mtu: int | None = None
    mac: str | None = None
    master: str | None = None
    nomaster = False
    stp: bool | None = None
    i = 0
    while i < len(args):
        word = args[i]
        if word == "dev":
            dev = _take(args, i, "dev")
            i += 2
        elif word == "up":
            up, i = True, i + 1
        elif word == "down":
            raise _Refused("Topolab brings every device up; 'down' is not carried")
        elif word == "mtu":
            mtu, i = _int(_take(args, i, "mtu"), "MTU", 68, 65535), i + 2
        elif word in ("address", "addr"):
            mac = _take(args, i, "address")
            if not _MAC.match(mac):
                raise _Refused(f"{mac!r} is not a MAC address")
            i += 2
        elif word == "master":
            master, i = _take(args, i, "master"), i + 2
        elif word == "nomaster":
            nomaster, i = True, i + 1
        elif word == "type" and i + 1 < len(args) and args[i + 1] == "bridge":
            stp, rest = _bridge_opts(args[i + 2 :])
            if rest or stp is None:
                raise _Refused("only the bridge option stp_state 0|1 is carried")
            i = len(args)
        elif dev is None and not word.startswith("-") and word not in ("name", "alias", "netns"):
            dev, i = word, i + 1
        else:
            raise _Refused(f"the link option {word!r} is not carried")
    if dev is None:
        raise _Refused("no device named")
    if (mtu, mac, master, stp) == (None, None, None, None) and not nomaster:
        return Nothing(dev)  # only "up": Topolab brings every device up itself
    return SetLink(dev=dev, up=up, mtu=mtu, mac=mac, master=master, nomaster=nomaster, stp=stp)


def _link_add(args: list[str]) -> AddBridge | AddDummy | AddVxlan:
    name: str | None = None
    mtu: int | None = None
    i = 0
    kind: str | None = None
    while i < len(args):
        word = args[i]
        if word == "name":
            name, i = _take(args, i, "name"), i + 2
        elif word == "mtu":
            mtu, i = _int(_take(args, i, "mtu"), "MTU", 68, 65535), i + 2
        elif word == "type":
            kind = _take(args, i, "type")
            args = args[i + 2 :]
            break
        elif name is None and not word.startswith("-") and word not in ("link", "address"):
            name, i = word, i + 1
        else:
            raise _Refused(f"the link option {word!r} is not carried")
    if name is None or kind is None:
        raise _Refused("ip link add needs a name and a type")
    if kind == "bridge":
        stp, rest = _bridge_opts(args)
        if rest:
            raise _Refused(f"the bridge options {' '.join(rest)!r} are not carried")
        return AddBridge(name, stp, mtu)
    if kind == "vxlan":
        return _vxlan(name, args, mtu)
    if kind == "dummy" and not args:
        return AddDummy(name, mtu)
    raise _Refused(f"Topolab makes no {kind} device from an exec line")


def _vxlan(name: str, args: list[str], mtu: int | None) -> AddVxlan:
    fields: dict[str, str] = {}
    learning = True
    i = 0
    while i < len(args):
        word = args[i]
        if word in ("id", "vni", "remote", "group", "local", "dstport", "dev", "ttl"):
            fields[word] = _take(args, i, word)
            i += 2
        elif word in ("nolearning", "learning"):
            learning, i = word == "learning", i + 1
        else:
            raise _Refused(f"the vxlan option {word!r} is not carried")
    vni = fields.get("id", fields.get("vni"))
    if vni is None:
        raise _Refused("a vxlan needs id VNI")
    for key in ("remote", "group", "local"):
        if key in fields:
            try:
                ip_address(fields[key])
            except ValueError:
                raise _Refused(f"vxlan {key} {fields[key]!r} is not an IP address") from None
    return AddVxlan(
        name=name,
        vni=_int(vni, "VNI", 1, 16_777_215),
        remote=fields.get("remote"),
        group=fields.get("group"),
        local=fields.get("local"),
        dstport=_int(fields["dstport"], "port", 1, 65535) if "dstport" in fields else None,
        dev=fields.get("dev"),
        ttl=_int(fields["ttl"], "TTL", 1, 255) if "ttl" in fields else None,
        learning=learning,
        mtu=mtu,
    )


def _route(verb: str, args: list[str], family: int) -> AddRoute | DeleteRoute:
    dst: str | None = None
    via: str | None = None
    dev: str | None = None
    metric: int | None = None
    i = 0
    while i < len(args):
        word = args[i]
        if word == "via":
            value = _take(args, i, "via")
            if value in ("inet", "inet6"):
                i += 1
                value = _take(args, i, "via")
            via, i = value, i + 2
        elif word in ("dev", "oif"):
            dev, i = _take(args, i, "dev"), i + 2
        elif word in ("metric", "preference", "priority"):
            metric, i = _int(_take(args, i, "metric"), "metric", 0, 2**32 - 1), i + 2
        elif word == "to":
            dst, i = _take(args, i, "to"), i + 2
        elif dst is None and not word.startswith("-"):
            dst, i = word, i + 1
        else:
            raise _Refused(f"the route option {word!r} is not carried")
    if dst is None:
        raise _Refused("no destination")
    if via is not None:
        try:
            version = ip_address(via).version
        except ValueError:
            raise _Refused(f"next hop {via!r} is not an IP address") from None
        if family and version != family:
            raise _Refused(f"next hop {via} is not an IPv{family} address")
        family = version
    if dst != "default":
        try:
            net = ip_network(dst, strict=True)
        except ValueError:
            raise _Refused(f"{dst!r} is not a network prefix") from None
        if family and net.version != family:
            raise _Refused(f"{dst} is not an IPv{family} prefix")
        dst, family = str(net), net.version
    family = family or 4
    if _matches(verb, "delete"):
        if (via, dev, metric) != (None, None, None):
            raise _Refused("only 'ip route del DST' is carried")
        return DeleteRoute(dst, family)
    return AddRoute(dst=dst, family=family, via=via, dev=dev, metric=metric)


def _ip(argv: list[str]) -> Command:
    args = argv[1:]
    family = 0
    while args and args[0].startswith("-"):
        flag = args[0]
        if flag in ("-4", "-6"):
            family = int(flag[1])
            args = args[1:]
        elif flag in ("-f", "-family") and len(args) > 1 and args[1] in ("inet", "inet6"):
            family = 6 if args[1] == "inet6" else 4
            args = args[2:]
        else:
            raise _Refused(f"the ip option {flag} is not carried")
    if len(args) < 2:
        raise _Refused("only ip address, link and route changes are carried")
    obj, verb, rest = args[0], args[1], args[2:]
    if _matches(obj, "address"):
        if _matches(verb, "add") or _matches(verb, "replace") or _matches(verb, "change"):
            return _addr(rest, family)
    elif _matches(obj, "link"):
        if _matches(verb, "add"):
            return _link_add(rest)
        if _matches(verb, "set") or _matches(verb, "change"):
            return _link_set(rest)
    elif _matches(obj, "route") and any(
        _matches(verb, v) for v in ("add", "replace", "change", "append", "delete")
    ):
        return _route(verb, rest, family)
    raise _Refused(f"ip {obj} {verb} is not carried")


def _sysctl(argv: list[str]) -> list[Command]:
    pairs = [a for a in argv[1:] if a not in ("-w", "-q")]
    if not pairs or any("=" not in p or p.startswith("-") for p in pairs):
        raise _Refused("only 'sysctl -w KEY=VALUE' is carried")
    out: list[Command] = []
    for pair in pairs:
        key, _, value = pair.partition("=")
        out.append(SetSysctl(key.strip().replace("/", "."), value.strip()))
    return out


def _command(argv: list[str]) -> list[Command]:
    """Turn one simple command (no shell operators) into commands."""
    text = " ".join(argv)
    if not argv:
        return []
    tool = argv[0].rsplit("/", 1)[-1]
    try:
        if tool == "ip":
            command = _ip(argv)
            return [Nothing(text) if isinstance(command, Nothing) else command]
        if tool == "sysctl":
            return _sysctl(argv)
        if tool in _NOOPS:
            return [Nothing(text)]
        if tool in _PACKAGE_TOOLS:
            raise _Refused("it installs software in the container; Topolab nodes use the host's")
        raise _Refused(f"Topolab does not run {tool} in a node")
    except _Refused as exc:
        return [NotUnderstood(text, str(exc))]


def _echo_sysctl(tokens: list[str]) -> SetSysctl | None:
    """``echo 1 > /proc/sys/net/ipv4/ip_forward``: the one redirection that is a sysctl."""
    if (
        len(tokens) == 4
        and tokens[0] == "echo"
        and tokens[2] == ">"
        and tokens[3].startswith("/proc/sys/")
    ):
        return SetSysctl(tokens[3].removeprefix("/proc/sys/").replace("/", "."), tokens[1])
    return None


def _drop_null_redirects(tokens: list[str]) -> list[str]:
    """Remove ``>/dev/null``, ``2>/dev/null`` and ``2>&1``: they only hide output."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in (">", ">>", "&>") and i + 1 < len(tokens) and tokens[i + 1] == "/dev/null":
            if out and out[-1] in ("1", "2"):
                out.pop()
            i += 2
        elif tok == ">&" and out and out[-1] == "2" and i + 1 < len(tokens):
            out.pop()
            i += 2
        else:
            out.append(tok)
            i += 1
    return out


def _script(script: str) -> list[Command]:
    """Split a shell script (``a && b; c || true``) into commands."""
    script = script.replace("\\\n", " ")
    quoted: str | None = None
    chars: list[str] = []
    for ch in script:  # newlines outside quotes separate commands, like ';'
        if quoted is None and ch in "'\"":
            quoted = ch
        elif quoted == ch:
            quoted = None
        chars.append(" ; " if ch == "\n" and quoted is None else ch)
    lexer = shlex.shlex("".join(chars), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = _drop_null_redirects(list(lexer))
    except ValueError as exc:
        return [NotUnderstood(script, f"the shell text does not parse: {exc}")]
    out: list[Command] = []
    step: list[str] = []
    i = 0
    while i <= len(tokens):
        tok = tokens[i] if i < len(tokens) else ";"
        if tok in (";", "&&"):
            if step:
                echo = _echo_sysctl(step)
                out.extend([echo] if echo else _plain(step))
            step = []
            i += 1
        elif tok == "||" and i + 1 < len(tokens) and tokens[i + 1] in ("true", ":"):
            i += 2  # "cmd || true" only hides cmd's failure
        elif tok == ">" and step and step[0] == "echo":
            step.append(tok)
            i += 1
        elif all(c in "();<>|&" for c in tok):
            text = " ".join(step + tokens[i:])
            out.append(NotUnderstood(text, f"the shell operator {tok!r} is not carried"))
            j = i
            while j < len(tokens) and tokens[j] not in (";", "&&"):
                j += 1
            step, i = [], j
        else:
            step.append(tok)
            i += 1
    return out


def _plain(argv: list[str]) -> list[Command]:
    if any(ch in tok for tok in argv for ch in "`") or any("$(" in tok for tok in argv):
        return [NotUnderstood(" ".join(argv), "command substitution is not carried")]
    return _command(argv)


def parse_exec(line: str) -> list[Command]:
    """Return the commands an ``exec`` line runs, in order (one per step of a shell line).

    A line wrapped in ``sh -c``/``bash -c``/``ash -c`` (also ``-lc``, ``-ec``)
    is split at ``;``, ``&&`` and new lines; ``|| true`` and redirections to
    ``/dev/null`` are dropped because they change nothing but output.
    """
    try:
        argv = shlex.split(line)
    except ValueError as exc:
        return [NotUnderstood(line, f"the line does not parse as a command: {exc}")]
    if not argv:
        return []
    shell = argv[0].rsplit("/", 1)[-1]
    if shell in _SHELLS and len(argv) >= 2 and re.fullmatch(r"-[a-z]*c[a-z]*", argv[1]):
        if len(argv) != 3:
            return [NotUnderstood(line, "a shell line takes exactly one script")]
        return _script(argv[2])
    if shell in _SHELLS:
        return [NotUnderstood(line, "Topolab does not run shell scripts in a node")]
    if any(tok in ("&&", "||", ";", "|", ">", "<") for tok in argv):
        # containerlab runs the line without a shell: the operators are plain arguments.
        return [NotUnderstood(line, "shell operators outside sh -c are not carried")]
    return _plain(argv)


__all__ = [
    "AddAddress",
    "AddBridge",
    "AddDummy",
    "AddRoute",
    "AddVxlan",
    "Command",
    "DeleteRoute",
    "NotUnderstood",
    "Nothing",
    "SetLink",
    "SetSysctl",
    "parse_exec",
]
