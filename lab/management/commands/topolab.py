"""``manage.py topolab``: deploy, destroy, inspect and clean up labs from a shell (as root).

    python manage.py topolab deploy lab.json|lab.yaml|lab.clab.yml [--dry-run]
    python manage.py topolab deploy FILE --user USERNAME
    python manage.py topolab destroy NAME
    python manage.py topolab inspect NAME
    python manage.py topolab service NAME NODE SERVICE start|stop|restart|status
    python manage.py topolab cleanup --lab KEY | --orphans

NAME is a topology name or lab key (``naming.lab_key`` turns one into the other).

Without ``--user`` the command is root's tool on this host: it drives the engine
directly, with no user, no database row and so no quota (like ``ip netns``). With
``--user`` it acts for that user through the control plane's services, as the API
does: the user's lab named after the topology is made (or its topology saved) and a
deploy (an apply when it runs) is handed to the lab host, all under the user's quotas
(``lab/quotas.py``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from lab.topology import naming
from lab.topology.errors import TopologyError
from lab.topology.schema import Topology


def read_topology(path: Path) -> tuple[Topology, list[str]]:
    """Load a JSON, YAML or containerlab (``.clab.yml``) file; return it and warnings.

    Raises:
        CommandError: unreadable file or an invalid topology (every issue listed).
    """
    try:
        text = path.read_text()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
    name = path.name.lower()
    if name.endswith((".clab.yml", ".clab.yaml")):
        fmt = "clab"
    else:
        fmt = "yaml" if name.endswith((".yml", ".yaml")) else "json"
    try:
        from lab.topology.io import import_text

        # The same door as the API's import: a containerlab file is validated once converted.
        topology, issues = import_text(text, fmt, read_bind=bind_reader(path.parent))
        warnings = [f"{i.path}: {i.message}" for i in issues]
    except TopologyError as exc:
        lines = [
            f"  {i.path}: {i.message}" + (f" ({i.hint})" if i.hint else "") for i in exc.issues
        ]
        lines += [f"  warning: {w.path}: {w.message}" for w in exc.warnings]
        raise CommandError(f"{path} is not a valid topology:\n" + "\n".join(lines)) from None
    return topology, warnings


def bind_reader(directory: Path) -> Callable[[str], str | None]:
    """Read a containerlab bind's host path as text, relative to ``directory``.

    Only regular files inside ``directory`` (after symlinks) and no larger than a node
    file may be read: a lab file cannot pull the host's other files into a node.
    """
    from lab.topology.schema import NODE_FILE_MAX_BYTES

    root = directory.resolve()

    def read(host_path: str) -> str | None:
        target = (root / host_path).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            return None
        try:
            if target.stat().st_size > NODE_FILE_MAX_BYTES:
                return None
            return target.read_text()
        except (OSError, UnicodeDecodeError):
            return None

    return read


def _key(name: str) -> str:
    return name if naming.is_lab_key(name) else naming.lab_key(name)


class Command(BaseCommand):
    """Drive the realization engine without the web."""

    help = "Deploy, destroy, inspect and clean up Topolab labs on this host (run as root)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        dep = sub.add_parser("deploy", help="build (or update) the lab a topology file describes")
        dep.add_argument("file")
        dep.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
        dep.add_argument("--lab", help="lab key (default: from the topology name)")
        dep.add_argument(
            "--user",
            help="act for this user: their lab, deployed by the lab host, under their quotas",
        )
        des = sub.add_parser("destroy", help="remove a lab and end its processes")
        des.add_argument("name")
        ins = sub.add_parser("inspect", help="show a lab's nodes, interfaces and addresses")
        ins.add_argument("name")
        ins.add_argument("--json", action="store_true")
        exe = sub.add_parser(
            "exec", help="run a program in a node, in the sandbox a console gets (-- ARGV...)"
        )
        exe.add_argument("name", help="the lab, as inspect takes it")
        exe.add_argument("node")
        exe.add_argument("argv", nargs=argparse.REMAINDER)
        svc = sub.add_parser(
            "service", help="start, stop or restart a node's service, or show its status and log"
        )
        svc.add_argument("name", help="the lab, as inspect takes it")
        svc.add_argument("node")
        svc.add_argument("service", help="frr, dnsmasq, iperf3 or http")
        svc.add_argument("op", choices=["start", "stop", "restart", "status"])
        cle = sub.add_parser("cleanup", help="remove one lab, or every lab not listed as live")
        group = cle.add_mutually_exclusive_group(required=True)
        group.add_argument("--lab")
        group.add_argument("--orphans", action="store_true")
        cle.add_argument("--live", nargs="*", default=[], help="lab keys to keep with --orphans")

    def handle(self, *args: Any, **options: Any) -> None:
        from worker import engine

        action = options["action"]
        try:
            if action == "deploy" and options.get("user"):
                if options["dry_run"] or options.get("lab"):
                    raise CommandError("--user deploys through the lab host: no --dry-run, --lab")
                self._deploy_for(Path(options["file"]), options["user"])
            elif action == "deploy":
                self._deploy(Path(options["file"]), options.get("lab"), options["dry_run"])
            elif action == "destroy":
                result = engine.destroy(_key(options["name"]))
                self.stdout.write(
                    f"destroyed lab {result.lab}: {len(result.namespaces)} namespaces, "
                    f"{len(result.pids)} processes ended"
                )
            elif action == "inspect":
                self._inspect(_key(options["name"]), options["json"])
            elif action == "exec":
                argv = list(options["argv"])
                argv = argv[1:] if argv[:1] == ["--"] else argv
                raise SystemExit(self._exec(_key(options["name"]), options["node"], argv))
            elif action == "service":
                raise SystemExit(
                    self._service(
                        _key(options["name"]), options["node"], options["service"], options["op"]
                    )
                )
            elif action == "cleanup":
                if options.get("lab"):
                    result = engine.destroy(_key(options["lab"]))
                    self.stdout.write(f"removed {len(result.namespaces)} namespaces")
                else:
                    removed = engine.cleanup_orphans(set(options["live"]))
                    self.stdout.write(f"removed orphan labs: {', '.join(removed) or 'none'}")
        except engine.EngineError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        except engine.KernelError as exc:
            raise CommandError(f"kernel: {exc}") from None

    def _deploy(self, path: Path, lab: str | None, dry_run: bool) -> None:
        from worker import engine

        topology, warnings = read_topology(path)
        for warning in warnings:
            self.stderr.write(f"warning: {warning}")
        key = lab or naming.lab_key(topology.name)
        if dry_run:
            for line in engine.plan_for(topology, key).describe():
                self.stdout.write(line)
            return

        def progress(done: int, total: int, op: Any) -> None:
            self.stdout.write(f"[{done}/{total}] {op.describe()}")

        result = engine.deploy(topology, key, progress=progress)
        for report in result.nodes:  # files, exec lines and services; a node's own error
            for line in report.log_lines():
                (self.stderr if report.error else self.stdout).write(line)
        self.stdout.write(
            f"lab {result.lab}: {len(result.plan)} ops applied, "
            f"{len(result.state.namespaces) if result.state else 0} nodes running"
        )

    def _deploy_for(self, path: Path, username: str) -> None:
        """Deploy the file's topology as ``username``'s lab, through the services.

        Raises:
            CommandError: no such user, or a service refused (a quota: its code and
                message, with the usage and the limit).
        """
        from django.contrib.auth import get_user_model
        from django.db import transaction

        from lab import services
        from lab.models import Lab

        topology, warnings = read_topology(path)
        for warning in warnings:
            self.stderr.write(f"warning: {warning}")
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        document = services.canonical_document(topology)
        try:
            with transaction.atomic():
                lab = Lab.objects.filter(owner=user, name=topology.name).order_by("id").first()
                if lab is None:
                    lab = services.do_create_lab(user, topology.name, topology=document)
                else:
                    services.do_put_topology(lab, user, document)
                if lab.state == Lab.State.RUNNING:
                    deployment = services.do_request_apply(lab, user)
                else:
                    deployment = services.do_request_deploy(lab, user)
        except services.ServiceError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        self.stdout.write(
            f"lab {lab.pk} ({lab.key}) of {username}: {deployment.action} {deployment.pk} "
            f"handed to lab host {deployment.host}"
        )

    def _exec(self, key: str, node: str, argv: list[str]) -> int:
        """Run ``argv`` in the node with this terminal's stdin/stdout/stderr; its status."""
        from worker import engine, sandbox

        full = engine.exec_argv(key, node, argv)
        self.stdout.flush()
        return subprocess.run(full, env=sandbox.environment(), check=False).returncode

    def _service(self, key: str, node: str, service: str, op: str) -> int:
        """Act on a node's service as this host last deployed the node; print its state.

        Returns 0 when the service ends in the state asked for (``running`` after start
        or restart, ``stopped`` after stop, ``running`` for status), else 1.

        Raises:
            CommandError: the node has no software on this host, or the host refused.
        """
        from worker import node_services

        document = node_services.recorded_node_document(key, node)
        if document is None:
            raise CommandError(f"lab {key} has no node {node} with services on this host")
        try:
            status = node_services.control_service(key, node, document, service, op)
        except node_services.NodeControlError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        message = f" ({status['message']})" if status["message"] else ""
        self.stdout.write(f"{node} {service}: {status['state']}{message}")
        if op == "status" and status["log"]:
            self.stdout.write(status["log"].rstrip("\n"))
        return 0 if status["state"] == ("stopped" if op == "stop" else "running") else 1

    def _inspect(self, key: str, as_json: bool) -> None:
        from worker import engine

        state = engine.discover(key)
        if as_json:
            rows: list[dict[str, Any]] = [
                {
                    "node": ns.node,
                    "namespace": ns.name,
                    "interfaces": [
                        {
                            "name": link.name,
                            "kind": link.kind,
                            "state": "up" if link.up else "down",
                            "mtu": link.mtu,
                            "mac": link.mac,
                            "master": link.master,
                            "addresses": list(link.addresses),
                        }
                        for link in ns.links
                    ],
                    "routes": [r.__dict__ for r in ns.routes],
                }
                for ns in state.namespaces
            ]
            self.stdout.write(json.dumps({"lab": key, "nodes": rows}, indent=2))
            return
        if state.empty:
            self.stdout.write(f"lab {key}: nothing in the kernel")
            return
        header = (
            f"{'NODE':<16} {'INTERFACE':<15} {'KIND':<9} {'STATE':<5} {'MTU':>5}  "
            f"{'MASTER':<8} ADDRESSES"
        )
        self.stdout.write(header)
        for ns in sorted(state.namespaces, key=lambda n: n.node or ""):
            if all(link.kind == "loopback" for link in ns.links):
                # A node on no link is still a node of the lab: list it, or it looks missing.
                self.stdout.write(
                    f"{ns.node or '?':<16} {'-':<15} {'-':<9} {'-':<5} {'-':>5}  {'-':<8} "
                    "(no interfaces)"
                )
            for link in ns.links:
                if link.kind == "loopback":
                    continue
                self.stdout.write(
                    f"{ns.node or '?':<16} {link.name:<15} {link.kind:<9} "
                    f"{'up' if link.up else 'down':<5} {link.mtu:>5}  {link.master or '-':<8} "
                    f"{', '.join(link.addresses) or '-'}"
                )
            for route in ns.routes:
                via = f" via {route.via}" if route.via else ""
                self.stdout.write(f"{ns.node or '?':<16} route {route.dst}{via} dev {route.dev}")
