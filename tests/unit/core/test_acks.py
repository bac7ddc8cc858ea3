"""Acks never reach past a gap in a device's check-in sequence (controller.core.acks)."""

from __future__ import annotations

from controller.core.acks import NONE, AckMark, ack_for


def test_batches_in_order_are_acked_to_their_last_seq() -> None:
    first = ack_for(AckMark(), 1, 3)
    assert (first.upto, first.mark) == (3, AckMark(3, NONE))
    second = ack_for(first.mark, 4, 9)
    assert (second.upto, second.mark) == (9, AckMark(9, NONE))


def test_the_first_batch_a_controller_sees_is_acked_whatever_its_seq() -> None:
    assert ack_for(AckMark(), 500, 510).upto == 510


def test_a_batch_after_a_missing_one_is_held_until_the_resend_fills_the_gap() -> None:
    mark = ack_for(AckMark(), 1, 9).mark
    held = ack_for(mark, 14, 16)  # 10..13 never arrived
    assert held.held and held.mark == AckMark(9, 14)
    later = ack_for(held.mark, 17, 17)
    assert later.held and later.mark == AckMark(9, 14)  # the earliest held batch is remembered
    resent = ack_for(later.mark, 10, 17)  # the device's whole queue, after its ack timeout
    assert (resent.upto, resent.mark) == (17, AckMark(17, NONE))


def test_a_gap_the_resend_does_not_fill_is_accepted_on_the_resend() -> None:
    mark = ack_for(AckMark(), 1, 9).mark
    held = ack_for(mark, 11, 12)  # seq 10 was dropped on the device itself
    assert held.held
    resent = ack_for(held.mark, 11, 12)
    assert (resent.upto, resent.mark) == (12, AckMark(12, NONE))


def test_old_batches_again_and_seqs_that_start_over_are_acked() -> None:
    mark = ack_for(AckMark(), 1, 20).mark
    again = ack_for(mark, 5, 8)  # a late redelivery
    assert (again.upto, again.mark) == (8, AckMark(20, NONE))
    over = ack_for(again.mark, 1, 2)  # a device whose flash was erased counts from 1 again
    assert over.upto == 2 and not over.held
