"""Finding a connector class by the `type:` a configuration names.

Built-in types map to warmline's reference connectors. A third-party package registers its own
under the `warmline.connectors` entry-point group, and `type: my_pkg.module:MyConnector` loads a
class directly, so a connector need not live in warmline to run with `warmline connector run`.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from connectors.sdk.connector import Connector
from warmline.errors import WarmlineError

ENTRY_POINT_GROUP = "warmline.connectors"
BUILT_IN: dict[str, str] = {
    "hubspot": "connectors.hubspot:HubSpotConnector",
    "webhook": "connectors.webhook:WebhookConnector",
    "bamboohr": "connectors.bamboohr:BambooHRConnector",
    "grpc": "connectors.grpc_gateway:GrpcGatewayConnector",
}


class UnknownConnectorError(WarmlineError):
    """No connector implements the configured type."""


def resolve(type_name: str) -> type[Connector]:
    """The connector class for `type_name` (built-in, entry point, or `module:Class`)."""
    target = BUILT_IN.get(type_name)
    if target is None:
        found = entry_points(group=ENTRY_POINT_GROUP, name=type_name)
        target = next((ep.value for ep in found), None)
    if target is None and ":" in type_name:
        target = type_name
    if target is None:
        known = ", ".join(sorted(BUILT_IN))
        raise UnknownConnectorError(
            f"no connector implements type {type_name!r}: use one of {known}, one registered "
            f"under the {ENTRY_POINT_GROUP!r} entry points, or `package.module:Class`"
        )
    module_name, _, class_name = target.partition(":")
    try:
        loaded = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise UnknownConnectorError(f"cannot load connector {target!r}: {error}") from None
    except Exception as error:  # noqa: BLE001 - an import runs the integrator's code: theirs to fix
        raise UnknownConnectorError(
            f"cannot load connector {target!r}: importing {module_name} raised "
            f"{type(error).__name__}: {error}"
        ) from None
    if not (isinstance(loaded, type) and issubclass(loaded, Connector)):
        raise UnknownConnectorError(f"{target!r} is not a subclass of connectors.sdk.Connector")
    return loaded
