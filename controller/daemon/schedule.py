"""Sessions on the clock: each gets its end when it starts (`core.schedule`), and the controller ends
those whose end has come, whether or not anybody asks.

Level-based: every `schedule_s` it asks the database which running sessions are due, so an end moved
by another controller, or missed while this one was down, is acted on all the same; two controllers
ending one session both try, and the second finds it ended.
"""

from __future__ import annotations

import logging

from controller.adapters.store import Store
from controller.contract.requests import SessionStartParams
from controller.core import schedule
from controller.core.fleet import Fleet
from controller.core.values import Ended
from controller.daemon.effects import Applier
from controller.daemon.settings import ControllerSettings
from controller.errors import SessionAlreadyEnded, UnknownSession

log = logging.getLogger(__name__)


class Schedule:
    """Ends sessions: on request, and by the clock."""

    def __init__(self, applier: Applier, settings: ControllerSettings) -> None:
        self._applier = applier
        self._store: Store = applier.store
        self._fleet: Fleet = applier.fleet
        self._settings = settings
        self._next = 0.0

    def end_of(self, start: SessionStartParams, now: float) -> float:
        """When a session starting now ends: as asked, else after its course's usual length."""
        usual = schedule.usual_length(self._store.usual_lengths(start.course), self._settings.default_session_s)
        return schedule.end_of(now, until=start.until, duration_s=start.duration_s, usual_s=usual,
                               max_s=self._settings.max_session_s)

    def end(self, session_id: int, now: float) -> Ended:
        """End a session: every device still serving it goes idle, its waiters are answered."""
        ended = self._store.end_session(session_id, self._fleet.reported(), now)
        self._applier.apply(self._fleet.ended(session_id, ended.idle), now)
        return ended

    def tick(self, now: float) -> None:
        """End the sessions whose end has come (every `schedule_s`)."""
        if now < self._next:
            return
        self._next = now + self._settings.schedule_s
        for session_id in self._store.due_ends(now):
            try:
                ended = self.end(session_id, now)
            except (SessionAlreadyEnded, UnknownSession):  # another controller was first
                continue
            late = now - (ended.session.ends_at or now)
            log.info("session %d reached its end (%.0f s ago) and was ended", session_id, late)
