"""The topology document: pure data, no Django, no kernel.

``load_topology(data)`` is the one entry point: it returns a validated
``Topology`` or raises ``TopologyError`` listing every ``Issue``.
"""

from .errors import Issue, TopologyError
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
    "load_topology",
]
