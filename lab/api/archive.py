"""Import a containerlab lab folder sent as an archive (``.tar.gz`` or ``.zip``).

``POST /api/topology/import/archive`` takes the archive as the request body (read in
memory, never written to disk) and answers as ``POST /api/topology/import`` does: the
topology document (not saved) and the warnings. The archive's bounds and refusals are
``lab/topology/archive.py``'s; a refusal is a 400 whose code names the reason
(``archive.*``) and whose issue names the field ``archive``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Router

from lab.api.errors import errors
from lab.api.schemas import ImportOut
from lab.api.topology import import_result
from lab.services import InvalidInput, TopologyInvalid
from lab.topology import Issue, Limits, TopologyError
from lab.topology.archive import ARCHIVE_MAX_BYTES, ArchiveError, read_archive
from lab.topology.io import import_text

router = Router(tags=["topology"])

ARCHIVE_BODY = {
    "requestBody": {
        "required": True,
        "description": f"a .tar.gz or .zip of the lab folder, at most {ARCHIVE_MAX_BYTES} bytes",
        "content": {
            media: {"schema": {"type": "string", "format": "binary"}}
            for media in ("application/gzip", "application/zip", "application/octet-stream")
        },
    }
}


def _too_large() -> InvalidInput:
    message = f"the archive is larger than {ARCHIVE_MAX_BYTES} bytes"
    return InvalidInput(
        message,
        code="archive.too_large",
        issues=[Issue("archive", "archive.too_large", message)],
    )


@router.post(
    "/topology/import/archive",
    response={200: ImportOut, **errors(400, 401, 403, 409, 413)},
    openapi_extra=ARCHIVE_BODY,
)
def import_archive(request: HttpRequest) -> dict[str, Any]:
    """Turn an archive of a containerlab lab folder (its ``*.clab.yml`` and the files its
    binds name) into a topology document (not saved); binds become node files.

    409 ``quota.nodes_per_lab`` when it is larger than a lab the caller may have.
    """
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > ARCHIVE_MAX_BYTES:
        raise _too_large()  # refused before the body is read
    data = request.body
    if not data:
        message = "send the archive as the request body"
        raise InvalidInput(
            message, code="archive.missing", issues=[Issue("archive", "archive.missing", message)]
        )
    try:
        folder = read_archive(data)
        limits = Limits(max_nodes=settings.TOPOLAB_MAX_NODES)
        topology, warnings = import_text(
            folder.clab_text, "clab", limits, read_bind=folder.read_bind()
        )
    except ArchiveError as exc:
        raise InvalidInput(exc.message, code=exc.code, issues=exc.issues) from None
    except TopologyError as exc:
        raise TopologyInvalid(str(exc), issues=exc.issues, warnings=exc.warnings) from None
    return import_result(request, topology, warnings)
