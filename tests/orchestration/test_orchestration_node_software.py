"""Node files, exec lines and services through the real path: web services, Celery worker,
engine, sandbox. A failing exec line marks its node in the deployment's log, not the lab;
an apply does not run exec lines again; destroy ends the services."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

from tests.orchestration.conftest import (
    Cluster,
    LabFactory,
    lab_namespaces,
    request_action,
    wait_final,
)
from worker import sandbox

pytestmark = [pytest.mark.web, pytest.mark.kernel]

DOC: dict[str, Any] = {
    "name": "software",
    "nodes": [
        {
            "name": "h1",
            "interfaces": [{"name": "eth0", "addresses": ["10.0.0.1/24"]}],
            "files": {"/root/note": "from the document\n"},
            "exec": ["sh -c 'cat /root/note >> /tmp/runs'", "false"],
        },
        {
            "name": "h2",
            "interfaces": [{"name": "eth0", "addresses": ["10.0.0.2/24"]}],
            "services": [{"kind": "iperf3"}],
        },
    ],
    "links": [{"kind": "veth", "a": "h1:eth0", "b": "h2:eth0"}],
}


@pytest.fixture(scope="module")
def host(cluster: Cluster) -> str:
    name = f"soft{random.randrange(16**6):06x}"
    cluster.add_worker(name, concurrency=2)
    return name


def test_exec_lines_mark_their_node_run_once_and_services_go_with_the_lab(
    host: str, cluster: Cluster, make_lab: LabFactory
) -> None:
    from django.contrib.auth import get_user_model

    from lab import services
    from lab.models import Deployment, Lab, LabHost

    cluster.wait_up(host)
    lab = make_lab(DOC)
    lab.host = LabHost.objects.get(name=host)
    lab.save(update_fields=["host"])
    deployed = wait_final(request_action(lab, "deploy").pk, cluster=cluster)
    assert deployed.state == Deployment.State.RUNNING, deployed.error_message
    assert "node h1: 1/2 exec line(s) succeeded" in deployed.log
    assert "node h1: exec line 2 (false) exited 1: no output" in deployed.log
    assert "node h2: service iperf3 running" in deployed.log
    assert sandbox.run(lab.key, "h1", ["cat", "/tmp/runs"]).stdout == "from the document\n"
    iperf = sandbox.run(lab.key, "h1", ["iperf3", "-c", "10.0.0.2", "-t", "1"], timeout=20)
    assert iperf.returncode == 0, iperf.stderr

    # An apply (a description changed) runs no exec line again.
    user = get_user_model().objects.get(username="orch")
    edited = copy.deepcopy(DOC)
    edited["nodes"][1]["description"] = "the iperf3 server"
    services.do_put_topology(Lab.objects.get(pk=lab.pk), user, edited)
    applied = wait_final(request_action(Lab.objects.get(pk=lab.pk), "apply").pk, cluster=cluster)
    assert applied.state == Deployment.State.RUNNING, applied.error_message
    assert sandbox.run(lab.key, "h1", ["cat", "/tmp/runs"]).stdout == "from the document\n"

    gone = wait_final(request_action(Lab.objects.get(pk=lab.pk), "destroy").pk, cluster=cluster)
    assert gone.state == Deployment.State.DESTROYED
    assert lab_namespaces(lab.key) == set()
    assert not (sandbox.NODES_DIR / lab.key).exists()
