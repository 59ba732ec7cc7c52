"""The topology document: pure data, no Django, no kernel.

``load_topology(data)`` is the one entry point: it returns a validated
``Topology`` or raises ``TopologyError`` listing every ``Issue``.

* ``validate``: every semantic problem at once (paths, codes, sentences, hints);
  import it as ``from lab.topology.validate import validate`` (the package
  does not re-export it, so ``lab.topology.validate`` stays the module).
* ``io``: JSON/YAML text in and out (``loads``/``dumps``), ``import_text`` and
  ``export_text`` for every format including containerlab.
* ``clab``: containerlab ``.clab.yml`` import (with warnings) and export.
* ``addressing``: automatic IPv4 subnets and static routes.
* ``jsonschema``: the document's JSON Schema for the editor.
"""

from .errors import Issue, TopologyError
from .io import dumps, loads
from .limits import Limits
from .load import load_topology
from .schema import (
    LINK_KINDS,
    Bridge,
    Endpoint,
    Interface,
    Link,
    Node,
    Program,
    Route,
    Topology,
)

__all__ = [
    "LINK_KINDS",
    "Bridge",
    "Endpoint",
    "Interface",
    "Issue",
    "Limits",
    "Link",
    "Node",
    "Program",
    "Route",
    "Topology",
    "TopologyError",
    "dumps",
    "load_topology",
    "loads",
]
