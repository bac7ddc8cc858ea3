"""The embedded broker's amqtt plugins, over `controller.broker.access` with Mosquitto's meaning.

Explicit plugins, ours only: no $SYS tree, no packet or event logger, and never amqtt's
AnonymousAuthPlugin (which admits any client that merely sends a username). `FleetAuthPlugin`
checks the password file (the ACL is applied by `controller.broker.fixes`); `plugin_config` is
amqtt's `plugins` section naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from amqtt.plugins.base import BaseAuthPlugin

from controller.broker.access import AccessControl

REFUSAL = "fleet.refusal"
"""amqtt session attribute: why `FleetAuthPlugin` refused the client (the broker logs it)."""


class FleetAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """Authentication by `AccessControl.refusal`: anonymous only if allowed, passwords checked
    against the password file, no `+ # /` in client ids or usernames."""

    @dataclass
    class Config:
        access: Any = None

    async def authenticate(self, *, session: Any) -> bool:
        access: AccessControl = self.config.access
        reason = access.refusal(session.username, session.password, session.client_id)
        if reason is not None:
            session.attributes[REFUSAL] = reason  # logged by the broker, once per client and minute
            return False
        return True


def plugin_config(access: AccessControl) -> dict[str, dict[str, Any]]:
    """amqtt's `plugins` section: our auth plugin."""
    return {_dotted(FleetAuthPlugin): {"access": access}}


def _dotted(plugin: type) -> str:
    return f"{plugin.__module__}.{plugin.__qualname__}"
