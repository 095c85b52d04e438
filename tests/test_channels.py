"""streamasr.channels: a stereo call, a session per channel, on real synthesized speech and the bundled model."""

import numpy as np
import pytest

from speech import HELD_OUT_SENTENCES, conversation
from streamasr.channels import ChannelSessions
from streamasr.events import Final
from streamasr.metrics import error_rate
from streamasr.protocol import encode_audio

BLOCK = 1600  # samples fed at a time: 100 ms, as a live source gives them


@pytest.fixture(scope="module")
def call(tmp_path_factory) -> np.ndarray:
    return conversation(tmp_path_factory.mktemp("call"))  # (S, 2)


def alone(rec, samples: np.ndarray) -> list:
    """The events of a session of its own on (S,) samples, fed as ChannelSessions feeds each channel."""
    s = rec.session()
    events = []
    for pos in range(0, len(samples), BLOCK):
        events += s.accept(np.ascontiguousarray(samples[pos : pos + BLOCK]))
    return events + s.finish()


@pytest.fixture(scope="module")
def together(bundled_rec, call) -> list:
    channels = ChannelSessions([bundled_rec.session() for _ in range(2)])
    events = []
    for pos in range(0, len(call), BLOCK):
        events += channels.accept(call[pos : pos + BLOCK])
    return events + channels.finish()


def test_each_channel_gets_what_a_session_of_its_own_gives(bundled_rec, call, together):
    for c in range(2):
        own = alone(bundled_rec, call[:, c])
        mine = [ev.event for ev in together if ev.channel == c]
        assert [e for e in mine if isinstance(e, Final)] == [e for e in own if isinstance(e, Final)]
        rest = iter(own)  # its events in its own session's order, some partials left out where a later replaced them
        assert all(any(e == o for o in rest) for e in mine)
        assert sum(e.type == "partial" for e in mine) >= 5


def test_finals_come_in_the_order_they_were_spoken(bundled_rec, call, together):
    """Channel 1's first turn ends (and, alone, its final comes) seconds before channel 0's long turn, which
    began earlier: the long turn's final comes first."""
    finals = [ev for ev in together if ev.event.type == "final"]
    starts = [ev.event.start_ms for ev in finals]
    assert starts == sorted(starts)
    spoken = [(ev.channel, ev.event.text) for ev in finals if ev.event.text]
    assert [c for c, _ in spoken] == [0, 1, 1]
    first_turn, short = (ev.event for ev in finals[:2])
    assert short.end_ms < first_turn.end_ms - 2000  # alone, the short turn's final would have come first
    refs = [" ".join(HELD_OUT_SENTENCES[:2]), HELD_OUT_SENTENCES[2], HELD_OUT_SENTENCES[3]]
    assert error_rate(refs, [text for _, text in spoken]) <= 0.2, spoken


def test_a_channels_partial_never_comes_before_its_own_earlier_final(together):
    """Channel 1 cuts in while its first final waits for channel 0's turn to end: the partials of its second
    turn wait behind that final (the latest of them comes out with it)."""
    for c in range(2):
        mine = [ev.event for ev in together if ev.channel == c]
        for i, e in enumerate(mine):
            if e.type == "partial":  # no final after it ends before the audio it covers
                assert all(f.end_ms >= e.audio_ms for f in mine[i + 1 :] if f.type == "final"), (c, e)
    second_turn = [ev.event for ev in together if ev.channel == 1 and ev.event.type == "partial"
                   and ev.event.text.startswith("or whether")]
    assert second_turn and second_turn[0].audio_ms > 5500  # one came out, after the first turn's final


def test_the_wrong_number_of_channels_is_refused(bundled_rec):
    channels = ChannelSessions([bundled_rec.session() for _ in range(2)])
    with pytest.raises(ValueError, match=r"expected \(samples, 2\) audio"):
        channels.accept(np.zeros((1600, 3), np.float32))
    with pytest.raises(ValueError, match="no channels"):
        ChannelSessions([])


def test_int16_pcm_gives_what_its_float_samples_give(bundled_rec, call):
    pcm = np.frombuffer(encode_audio(call[: 16000 * 4], "pcm_s16le"), "<i2").reshape(-1, 2)  # (S, 2)

    def events(samples):
        channels = ChannelSessions([bundled_rec.session() for _ in range(2)])
        return [e.to_dict() for e in channels.accept(samples) + channels.finish()]

    expected = events(pcm.astype(np.float32) / 32768)
    assert any(e["type"] == "final" and e["text"] for e in expected)
    assert events(pcm) == expected


def test_to_dict_carries_the_channel(together):
    d = next(ev for ev in together if ev.event.type == "final" and ev.channel == 1).to_dict()
    assert d["channel"] == 1 and d["type"] == "final" and d["text"]
