"""How far an ack may reach: never past a gap in a device's check-in sequence.

A device drops every queued check-in up to an ack's `upto`. Acking a batch's last seq when an
earlier batch never arrived would drop that batch on the device for good: it happens when a broker
PUBACKs a device's batch that no controller subscription received (the controller's clean session
was cut and made again: on NATS a stream leader moving closes connections, on any broker a network
blip does). So the ack holds at the last seq known to have arrived in order, and the device, which
sends its whole queue again after its ack timeout, fills the gap. A gap its resend does not fill
(its queue starts past the gap: an event it dropped itself, or seqs that started over) is accepted
on that resend, so nothing waits longer than one ack timeout.

Pure: the caller keeps `AckMark` in the device's record and sends `Ack.upto` when it is not None.
"""

from __future__ import annotations

from dataclasses import dataclass

NONE = -1
"""No seq known (a device this controller has not acked yet, or no batch held back)."""


@dataclass(frozen=True, slots=True)
class AckMark:
    """What a device's acks have reached: `in_order`, the highest seq acked with nothing missing
    before it (as far as this controller knows), and `held_from`, the first seq of the earliest
    batch held back for a gap since (NONE: none)."""

    in_order: int = NONE
    held_from: int = NONE


@dataclass(frozen=True, slots=True)
class Ack:
    """The ack to send (`upto`, None: none) and the device's mark after it."""

    upto: int | None
    mark: AckMark

    @property
    def held(self) -> bool:
        return self.upto is None


def ack_for(mark: AckMark, first: int, last: int) -> Ack:
    """The ack for a batch of seqs `first`..`last`, all stored (or refused for good), given the
    device's `mark`."""
    known = mark.in_order
    in_order = known == NONE or first <= known + 1 or first == mark.held_from
    if in_order:
        return Ack(last, AckMark(max(known, last), NONE))
    held_from = first if mark.held_from == NONE else min(mark.held_from, first)
    return Ack(None, AckMark(known, held_from))
