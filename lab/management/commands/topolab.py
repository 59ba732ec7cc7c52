"""``manage.py topolab``: deploy, destroy, inspect and clean up labs from a shell (as root).

    python manage.py topolab deploy lab.json|lab.yaml|lab.clab.yml [--dry-run]
    python manage.py topolab destroy NAME
    python manage.py topolab inspect NAME
    python manage.py topolab cleanup --lab KEY | --orphans

NAME is a topology name or lab key (``naming.lab_key`` turns one into the other).
"""

from __future__ import annotations

import json
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
        topology, issues = import_text(text, fmt)
        warnings = [f"{i.path}: {i.message}" for i in issues]
    except TopologyError as exc:
        lines = [
            f"  {i.path}: {i.message}" + (f" ({i.hint})" if i.hint else "") for i in exc.issues
        ]
        raise CommandError(f"{path} is not a valid topology:\n" + "\n".join(lines)) from None
    return topology, warnings


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
        des = sub.add_parser("destroy", help="remove a lab and end its processes")
        des.add_argument("name")
        ins = sub.add_parser("inspect", help="show a lab's nodes, interfaces and addresses")
        ins.add_argument("name")
        ins.add_argument("--json", action="store_true")
        cle = sub.add_parser("cleanup", help="remove one lab, or every lab not listed as live")
        group = cle.add_mutually_exclusive_group(required=True)
        group.add_argument("--lab")
        group.add_argument("--orphans", action="store_true")
        cle.add_argument("--live", nargs="*", default=[], help="lab keys to keep with --orphans")

    def handle(self, *args: Any, **options: Any) -> None:
        from worker import engine

        action = options["action"]
        try:
            if action == "deploy":
                self._deploy(Path(options["file"]), options.get("lab"), options["dry_run"])
            elif action == "destroy":
                result = engine.destroy(_key(options["name"]))
                self.stdout.write(
                    f"destroyed lab {result.lab}: {len(result.namespaces)} namespaces, "
                    f"{len(result.pids)} processes ended"
                )
            elif action == "inspect":
                self._inspect(_key(options["name"]), options["json"])
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
        self.stdout.write(
            f"lab {result.lab}: {len(result.plan)} ops applied, "
            f"{len(result.state.namespaces)} nodes running"
        )

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
