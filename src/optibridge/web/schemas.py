"""Request and response bodies of the HTTP API, as documented in /openapi.json."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from optibridge.services.tokens import Role


class ErrorDetail(BaseModel):
    pointer: str = Field(description="JSON pointer (RFC 6901) to the offending input, or ''.")
    message: str


class ErrorInfo(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail]


class ErrorResponse(BaseModel):
    error: ErrorInfo


# Any route that reads a body or a parameter can meet one it can't read: not JSON, nested
# too deep, a cursor that isn't ours (SPEC 5's 400).
MALFORMED = "Malformed request: not JSON, nested too deep, or a parameter that can't be read"


def error_responses(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for error statuses, each in SPEC 5's error shape."""
    return {
        code: {"model": ErrorResponse, "description": description}
        for code, description in descriptions.items()
    }


class SiteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site_id: int = Field(description="The Comm100 site id.", examples=[10000])
    name: str = Field(examples=["Acme"])


class SiteOut(BaseModel):
    site_id: int
    name: str
    created_at: datetime


class ConnectionTest(BaseModel):
    """Optional: test these credentials instead of the saved ones (e.g. before saving)."""

    model_config = ConfigDict(extra="forbid")
    base_url: str | None = None
    api_key: str | None = None


class ConnectionTestResult(BaseModel):
    ok: bool
    attributes: int = Field(description="How many customer attributes the account has.")


class AttributeOut(BaseModel):
    real_field_name: str
    alias: str | None
    field_type: str | None
    description: str | None


class AttributeList(BaseModel):
    items: list[AttributeOut]
    cached: bool = Field(description="True when served from the cache without calling Optimove.")


class WebhookUrlsOut(BaseModel):
    livechat: str = Field(description="Paste into Comm100 Live Chat webhooks (chat ended, …).")
    ticketing: str = Field(description="Paste into a Ticketing trigger 'when a ticket is created'.")
    optimove_callback: str = Field(description="Sent to Optimove as the CallbackURL.")


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role
    label: str = Field(default="", max_length=200)


class TokenOut(BaseModel):
    id: int
    role: Role
    site_id: int | None
    label: str
    created_at: datetime


class IssuedTokenOut(TokenOut):
    token: str = Field(description="Shown once; only its hash is stored.")
