"""The version rule: every config a device is sent carries a version above any it has seen.

A device ignores a config whose version is not above the one it applied, so a new desired config
(a session started, moved or ended, or one re-issued because the device is ahead of the database)
goes out as `max(stored, reported) + 1`: above what the database holds and above what the device
has reported, whichever is higher. This module is the only place that rule is written, and the
one place that says which version a device runs.
"""

from __future__ import annotations

from controller.contract.messages import State


def reported_version(state: State | None) -> int:
    """The highest version a device has reported: the one it last saw or the one it runs (0: none)."""
    return 0 if state is None else max(state.config_version, state.applied_version or 0)


def applied_version(state: State | None) -> int | None:
    """The version a device runs: the config it reports applied, or after a rejection the one it kept
    (a rejected config is not kept). None: it has reported none."""
    if state is None:
        return None
    return state.config_version if state.applied else state.applied_version


def next_version(stored: int, reported: int) -> int:
    """The version a new desired config goes out with: `max(stored, reported) + 1`."""
    return max(stored, reported) + 1
