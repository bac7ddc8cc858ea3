"""The embedded broker's amqtt plugins, over `controller.broker.access` with Mosquitto's meaning.

Explicit plugins, ours only: no $SYS tree, no packet or event logger, and never amqtt's
AnonymousAuthPlugin (which admits any client that merely sends a username). `FleetAuthPlugin`
checks the password file, `FleetAclPlugin` the ACL; `plugin_config` is amqtt's `plugins` section
naming them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin

from controller.broker.access import AccessControl
from controller.broker.auth import Access

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


class FleetAclPlugin(BaseTopicPlugin):  # type: ignore[misc]
    """The ACL, as Mosquitto 2.0.11 applies it: publishing needs WRITE, receiving needs READ (also
    for retained messages and wills), subscribing is always allowed."""

    @dataclass
    class Config:
        access: Any = None

    async def topic_filtering(self, *, session: Any = None, topic: str | None = None, action: Any = None) -> bool:
        if action == Action.SUBSCRIBE:
            return True
        if session is None or topic is None:
            return False
        access: AccessControl = self.config.access
        wanted = Access.READ if action == Action.RECEIVE else Access.WRITE
        return access.allows(session.username, session.client_id, topic, wanted)


def plugin_config(access: AccessControl) -> dict[str, dict[str, Any]]:
    """amqtt's `plugins` section: our auth plugin, and the ACL plugin only when there is an ACL (it
    costs a check per message)."""
    plugins: dict[str, dict[str, Any]] = {_dotted(FleetAuthPlugin): {"access": access}}
    if access.has_acl:
        plugins[_dotted(FleetAclPlugin)] = {"access": access}
    return plugins


def _dotted(plugin: type) -> str:
    return f"{plugin.__module__}.{plugin.__qualname__}"
