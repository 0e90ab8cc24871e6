"""Discovery endpoints (RFC 7644 §4): what this server supports, its resource types and schemas.

They are public: clients discover capabilities before they hold a token.
"""

from __future__ import annotations

from typing import Any

from app import config, errors, events, rendering
from app.rendering import Response
from app.resources import ResourceType, registry, schema_documents

SPC_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"


async def service_provider_config() -> Response:
    """RFC 7643 §5: the features this server supports today."""
    settings = config.get()
    base = rendering.base_url()
    body = {
        "schemas": [SPC_SCHEMA],
        "documentationUri": f"{base}/ui/",
        "patch": {"supported": True},
        "bulk": {
            "supported": True,
            "maxOperations": settings.bulk_max_operations,
            "maxPayloadSize": settings.bulk_payload_limit,
        },
        "filter": {"supported": True, "maxResults": settings.max_results},
        "changePassword": {"supported": True},
        "sort": {"supported": True},
        "etag": {"supported": True},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": (
                    "Authorization: Bearer <token>, or the bare token (Okta's HTTP Header mode)."
                ),
                "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
                "primary": True,
            }
        ],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": f"{base}/ServiceProviderConfig",
        },
    }
    if settings.events_on:
        body["securityEvents"] = {"asyncRequest": "none", "eventUris": events.emitted()}
    return body, 200, {}


async def resource_types() -> Response:
    """RFC 7643 §6: all resource types."""
    found = [_resource_type(t) for t in registry().types.values()]
    return rendering.list_response(found, len(found), 1), 200, {}


async def resource_type(name: str) -> Response:
    """RFC 7643 §6: one resource type by name."""
    found = registry().types.get(name)
    if found is None:
        raise errors.NotFound(f"no resource type {name!r}")
    return _resource_type(found), 200, {}


async def schemas() -> Response:
    """RFC 7643 §7: all schemas."""
    found = [_schema(urn) for urn in schema_documents()]
    return rendering.list_response(found, len(found), 1), 200, {}


async def schema(schema_id: str) -> Response:
    """RFC 7643 §7: one schema by its URN."""
    if schema_id not in schema_documents():
        raise errors.NotFound(f"no schema {schema_id!r}")
    return _schema(schema_id), 200, {}


def _resource_type(resource_type: ResourceType) -> dict[str, Any]:
    required = registry().required
    extensions = [
        {"schema": urn, "required": (resource_type.name, urn) in required}
        for urn in resource_type.extensions
    ]
    return {
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": resource_type.name,
        "name": resource_type.name,
        "description": resource_type.description,
        "endpoint": resource_type.endpoint,
        "schema": resource_type.schema,
        "schemaExtensions": extensions,
        "meta": {
            "resourceType": "ResourceType",
            "location": f"{rendering.base_url()}/ResourceTypes/{resource_type.name}",
        },
    }


def _schema(urn: str) -> dict[str, Any]:
    document = dict(schema_documents()[urn])
    document["meta"] = {
        "resourceType": "Schema",
        "location": f"{rendering.base_url()}/Schemas/{urn}",
    }
    return document
