"""Request and response shapes of the REST API (they make the OpenAPI description)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema
from pydantic import ConfigDict

from lab.api.errors import IssueOut
from lab.services import LAB_DESCRIPTION_MAX, LAB_NAME_MAX


class StrictIn(Schema):
    """Request bodies refuse fields they do not know: a typo is an error, not ignored."""

    model_config = ConfigDict(extra="forbid")


class LoginIn(StrictIn):
    username: str = Field(..., min_length=1, max_length=150)
    password: str = Field(..., min_length=1, max_length=1024)


class UserOut(Schema):
    id: int
    username: str
    is_staff: bool


class CsrfOut(Schema):
    csrf_token: str


class LabCreateIn(StrictIn):
    name: str = Field(..., min_length=1, max_length=LAB_NAME_MAX)
    description: str = Field("", max_length=LAB_DESCRIPTION_MAX)
    topology: dict[str, Any] | None = Field(
        None, description="a topology document (see GET /api/topology/schema)"
    )


class LabPatchIn(StrictIn):
    name: str | None = Field(None, min_length=1, max_length=LAB_NAME_MAX)
    description: str | None = Field(None, max_length=LAB_DESCRIPTION_MAX)


class ProgressOut(Schema):
    done: int
    total: int
    step: str


class DeploymentOut(Schema):
    id: int
    lab: int
    action: Literal["deploy", "apply", "destroy"]
    state: str
    revision: int | None
    host: str
    progress: ProgressOut
    error_code: str
    error_message: str
    failed_op: str
    plan: list[str]
    log: list[Any]
    created: datetime | None
    started: datetime | None
    finished: datetime | None


class DeploymentEnvelopeOut(Schema):
    deployment: DeploymentOut


class LabSummaryOut(Schema):
    id: int
    name: str
    description: str
    created: datetime
    updated: datetime
    key: str
    state: str
    revision: int | None


class LabOut(LabSummaryOut):
    host: str | None
    topology: dict[str, Any] | None
    draft: dict[str, Any] | None
    draft_issues: list[IssueOut]
    deployment: DeploymentOut | None
    applied_revision: int | None = Field(
        None, description="the revision the lab host runs (None when nothing runs)"
    )
    auto: dict[str, Any] | None = Field(
        None, description="what automatic addressing adds to the latest revision, per node"
    )
    demo: str | None = Field(None, description="the demo library slug the lab was opened from")


class TopologyPutOut(Schema):
    revision: int
    topology: dict[str, Any]
    auto: dict[str, Any] | None = Field(
        None, description="what automatic addressing adds to this revision, per node"
    )


class RevisionOut(Schema):
    number: int
    created: datetime
    topology: dict[str, Any]


class ValidateOut(Schema):
    valid: bool
    issues: list[IssueOut]


class ImportIn(StrictIn):
    format: Literal["json", "yaml", "clab"]
    text: str = Field(..., max_length=2_000_000)


class ImportOut(Schema):
    topology: dict[str, Any]
    warnings: list[str] = Field(..., description="one sentence per thing the import dropped")
    warning_issues: list[IssueOut] = Field(..., description="the same warnings with paths")
