"""The conversation state machine (device/conversation.py): every transition,
repeated and out-of-order input, and the same run under MicroPython."""
import subprocess
import sys

import pytest

from device.conversation import (ALWAYS_LISTENING, IDLE, LISTENING, PUSH_TO_TALK, SPEAKING, THINKING,
                                 Conversation, RecentIds, turn_is_newer)
from tests.micropython import REPO_ROOT, run_micropython


def ptt(**options):
    return Conversation(PUSH_TO_TALK, **options)


def always(**options):
    return Conversation(ALWAYS_LISTENING, **options)


def answered(conversation, turn=1):
    """Drive a conversation through heard -> answering with audio playing."""
    conversation.turn_event("heard", turn, 10)
    conversation.turn_event("answering", turn, 20)
    conversation.playout_started(30)
    assert conversation.state == SPEAKING
    return conversation


# -- push to talk ---------------------------------------------------------------

def test_push_to_talk_sends_only_while_listening():
    c = ptt()
    assert (c.state, c.sending) == (IDLE, False)
    assert c.press(0) is False  # nothing to flush
    assert (c.state, c.sending, c.button_held) == (LISTENING, True, True)
    c.release(2500)
    assert (c.state, c.sending) == (THINKING, False)  # the gateway has the turn
    c.turn_event("heard", 1, 2600)
    assert (c.state, c.turn, c.turns) == (THINKING, 1, 1)
    c.turn_event("answering", 1, 3000)
    assert (c.state, c.sending) == (SPEAKING, False)
    c.playout_started(3060)
    c.turn_event("done", 1, 4000)
    assert c.state == SPEAKING  # done, but the answer is still playing
    c.playout_drained(5000)
    assert (c.state, c.since_ms, c.changes) == (IDLE, 5000, 4)


def test_heard_while_the_button_is_held_waits_for_the_release():
    c = ptt()
    c.press(0)
    c.turn_event("heard", 4, 100)
    assert c.state == LISTENING  # the button wins while it is down
    c.release(200)
    assert c.state == THINKING and c.turn == 4


def test_nothing_heard_before_the_release_does_not_leave_the_device_waiting():
    c = ptt()
    c.press(0)
    c.turn_event("nothing", 2, 100)
    c.release(200)
    assert c.state == IDLE


def test_listen_command_listens_until_the_gateway_hears_the_turn():
    c = ptt()
    assert c.listen(0) is False
    assert (c.state, c.sending) == (LISTENING, True)
    c.turn_event("heard", 1, 900)
    assert (c.state, c.sending) == (THINKING, False)


def test_nothing_ends_the_turn():
    c = ptt()
    c.listen(0)
    c.turn_event("nothing", 1, 900)
    assert (c.state, c.sending) == (IDLE, False)


def test_press_while_speaking_is_a_barge_in_and_late_events_of_that_turn_are_ignored():
    c = answered(ptt(), turn=3)
    assert c.press(100) is True  # flush playback now
    assert (c.state, c.sending) == (LISTENING, True)
    c.playout_drained(101)  # the flush emptied the speaker
    for event in ("answering", "done", "heard"):  # repeats of turn 3, still on their way
        assert c.turn_event(event, 3, 110) is False
    assert c.state == LISTENING and c.ignored == 3
    c.release(900)
    c.turn_event("heard", 4, 1000)
    assert (c.state, c.turn, c.turns) == (THINKING, 4, 2)


def test_press_while_thinking_drops_the_coming_answer():
    c = ptt()
    c.listen(0)
    c.turn_event("heard", 1, 10)
    assert c.press(20) is True and c.state == LISTENING


def test_a_second_press_and_a_stray_release_do_nothing():
    c = ptt()
    assert c.release(0) is False and c.state == IDLE
    c.press(10)
    assert c.press(20) is False and c.changes == 1


def test_stop_ends_listening_and_speaking_now():
    c = ptt()
    c.press(0)
    assert c.stop(10) is False and c.state == IDLE
    c.release(20)  # the button comes up after the stop: nothing happens
    assert c.state == IDLE
    c = answered(ptt())
    assert c.stop(40) is True and (c.state, c.sending) == (IDLE, False)
    assert c.turn_event("done", 1, 50) is False  # the stopped turn is over


def test_push_to_talk_numbers_the_turns_the_user_starts():
    c = ptt()
    c.press(0)
    assert (c.turn, c.turns) == (1, 1)  # announced in DeviceState listening
    c.release(100)
    for event in ("heard", "answering", "done"):
        assert c.turn_event(event, 1, 200) is True
    c.listen(300)
    assert (c.turn, c.turns) == (2, 2)
    assert c.turn_event("heard", 1, 310) is False  # the last turn's
    assert c.turn_event("heard", 2, 320) is True and c.state == THINKING
    c.press(400)  # a barge-in over turn 2 starts turn 3
    assert c.turn == 3
    c.listen(410)  # already listening: the same turn goes on
    assert (c.turn, c.turns) == (3, 3)


def test_always_listening_takes_the_gateways_numbers():
    c = always()
    c.turn_event("heard", 7, 0)
    c.press(10)
    c.abort(1, 20)
    assert (c.turn, c.turns) == (7, 1)
    assert c.turn_event("heard", 8, 30) is True and c.turn == 8


# -- always listening ---------------------------------------------------------

def test_always_listening_streams_and_the_gateway_decides_the_turns():
    c = always()
    assert (c.state, c.sending) == (IDLE, True)
    c.turn_event("heard", 1, 1000)
    assert (c.state, c.sending) == (THINKING, True)
    c.turn_event("answering", 1, 1500)
    c.playout_started(1560)
    assert (c.state, c.sending) == (SPEAKING, True)  # full duplex: barge-in by voice
    c.turn_event("done", 1, 2000)
    c.playout_drained(2500)
    assert (c.state, c.sending) == (IDLE, True)


def test_half_duplex_mutes_the_microphone_while_speaking():
    c = answered(always(half_duplex=True))
    assert c.sending is False
    assert c.press(100) is True  # barge-in by the button only
    assert (c.state, c.sending) == (LISTENING, True)
    c.release(500)
    assert c.state == LISTENING  # the gateway's VAD ends the turn
    c.turn_event("heard", 2, 900)
    assert c.state == THINKING


def test_abort_flushes_and_listens_once_per_id():
    c = answered(always())
    assert c.abort(7, 100) is True
    assert (c.state, c.aborts, c.sending) == (LISTENING, 1, True)
    assert c.abort(7, 120) is False and c.abort(7, 140) is False  # the repeats
    assert (c.aborts, c.ignored) == (1, 2)
    assert c.turn_event("done", 1, 150) is False  # the aborted turn
    c.turn_event("heard", 2, 800)
    assert c.state == THINKING
    assert c.abort(8, 900) is True and c.aborts == 2


def test_abort_ids_are_remembered_across_interleaved_aborts():
    c = always()
    for abort_id in (1, 2, 1, 2, 3):
        c.abort(abort_id, 0)
    assert (c.aborts, c.ignored) == (3, 2)


def test_abort_in_push_to_talk_listens_as_a_listen_command_would():
    c = answered(ptt())
    assert c.abort(0, 100) is True and (c.state, c.sending) == (LISTENING, True)


def test_answering_without_heard_and_audio_without_answering_both_speak():
    c = always()
    c.turn_event("answering", 5, 0)  # heard was lost
    assert c.state == SPEAKING
    c = always()
    c.playout_started(0)  # every event lost: the audio itself says so
    assert c.state == SPEAKING
    c.playout_drained(500)
    assert c.state == IDLE


def test_underrun_between_sentences_keeps_speaking_until_done():
    c = answered(always())
    c.playout_drained(100)
    assert c.state == SPEAKING
    c.playout_started(300)
    c.turn_event("done", 1, 400)
    c.playout_drained(900)
    assert c.state == IDLE


def test_done_with_nothing_playing_is_idle_at_once():
    c = always()
    c.turn_event("heard", 1, 0)
    c.turn_event("done", 1, 10)
    assert c.state == IDLE


# -- repeats, old turns, wrap-around ----------------------------------------------

def test_repeats_and_backward_steps_within_a_turn_are_ignored():
    c = always()
    assert c.turn_event("heard", 1, 0) is True
    assert c.turn_event("heard", 1, 20) is False
    assert c.turn_event("answering", 1, 30) is True
    assert c.turn_event("heard", 1, 40) is False  # a late repeat must not go back to thinking
    assert (c.state, c.turns, c.ignored) == (SPEAKING, 1, 2)


def test_events_of_older_turns_are_ignored():
    c = always()
    c.turn_event("heard", 10, 0)
    assert c.turn_event("answering", 9, 10) is False
    assert c.turn_event("heard", 10 + 0x8000, 10) is False  # half the circle away: older
    assert c.state == THINKING and c.turn == 10


def test_turn_numbers_wrap_at_16_bits():
    assert turn_is_newer(0, 0xFFFF) and turn_is_newer(5, 0xFFFE)
    assert not turn_is_newer(0xFFFF, 0) and not turn_is_newer(3, 3)
    c = always()
    c.turn_event("done", 0xFFFF, 0)
    assert c.turn_event("heard", 0, 10) is True and c.turn == 0


def test_unknown_event_is_ignored():
    c = always()
    assert c.turn_event("later", 1, 0) is False and c.ignored == 1 and c.state == IDLE


# -- session, mode, timeouts ----------------------------------------------------

def test_session_lost_goes_idle_and_forgets_turns_and_abort_ids():
    c = answered(always())
    c.abort(3, 50)
    c.turn_event("answering", 2, 60)
    c.playout_started(70)
    assert c.session_lost(100) is True
    assert (c.state, c.turn) == (IDLE, None)
    assert c.turn_event("heard", 1, 200) is True  # the new session's gateway counts afresh
    assert c.abort(3, 300) is True


def test_session_lost_while_idle_needs_no_flush():
    assert always().session_lost(0) is False


def test_mode_change_applies_at_once():
    c = always()
    c.configure(PUSH_TO_TALK, False, 10)
    assert (c.state, c.sending) == (IDLE, False)
    c.configure(ALWAYS_LISTENING, True, 20)
    assert c.sending is True
    with pytest.raises(ValueError, match="mode 'sometimes'"):
        c.configure("sometimes", False, 30)


@pytest.mark.parametrize("setup, state", [
    (lambda c: c.listen(0), LISTENING),
    (lambda c: (c.press(0), c.release(0)), THINKING),
    (lambda c: c.turn_event("answering", 1, 0), SPEAKING),
])
def test_a_gateway_that_goes_quiet_is_given_up_on(setup, state):
    c = ptt(stall_timeout_ms=1000)
    setup(c)
    assert c.state == state
    assert c.tick(999) is False and c.state == state
    assert c.tick(1000) is True and c.state == IDLE


def test_no_timeout_while_the_button_is_held_or_audio_plays():
    c = ptt(stall_timeout_ms=1000)
    c.press(0)
    assert c.tick(5000) is False and c.state == LISTENING
    c = answered(always(stall_timeout_ms=1000))
    assert c.tick(5000) is False and c.state == SPEAKING


def test_recent_ids_forget_the_oldest():
    ids = RecentIds(2)
    assert [ids.first_time(key) for key in (1, 2, 1, 3, 1)] == [True, True, False, True, True]


SCRIPT = r'''
from device.conversation import Conversation
c = Conversation("push_to_talk", half_duplex=True, stall_timeout_ms=500)
log = []
steps = [("press", ()), ("turn_event", ("heard", 1)), ("release", ()),
         ("turn_event", ("answering", 1)), ("turn_event", ("heard", 1)), ("playout_started", ()),
         ("press", ()), ("turn_event", ("done", 1)), ("release", ()), ("abort", (9,)), ("abort", (9,)),
         ("turn_event", ("heard", 3)), ("turn_event", ("nothing", 3)), ("listen", ()), ("tick", ()),
         ("turn_event", ("answering", 0xFFFF)), ("stop", ()), ("session_lost", ())]
now = 0
for name, args in steps:
    now += 300
    result = getattr(c, name)(*(args + (now,)))
    log.append("%s %r %s %s %r %d %d" % (name, result, c.state, c.sending, c.turn, c.aborts, c.ignored))
print("\n".join(log))
'''


def test_same_transitions_under_micropython():
    micro = run_micropython(SCRIPT)
    cpython = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                             cwd=str(REPO_ROOT), check=True).stdout
    assert micro == cpython
    assert "abort True listening True 3 1" in micro and "listen False listening True 4 1" in micro


def test_the_documented_app_examples_are_what_the_code_builds():
    from device import rtcp_app
    protocol = (REPO_ROOT / "docs" / "protocol.md").read_text()
    for message in (rtcp_app.DeviceState(0x11223344, "speaking", "push_to_talk", 513, True),
                    rtcp_app.Abort(0x55667788, 7, 65535), rtcp_app.TurnEvent(0x55667788, "answering", 513),
                    rtcp_app.Volume(0x55667788, 35, 42)):
        assert "`%s`" % message.to_packet().to_bytes().hex(" ") in protocol, message
