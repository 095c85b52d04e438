"""The input check: digital silence, quiet and clipping noticed on 100 ms blocks, however the audio is cut."""

import numpy as np
import pytest

from streamasr.levels import CLIP_WINDOW_S, CLIPPED_SHARE, QUIET_DBFS, InputCheck

RATE, BLOCK = 16000, 1600  # 100 ms blocks, as the microphone sends them


def said_at(check: InputCheck, blocks: list[np.ndarray]) -> list[tuple[int, str]]:
    """(index of the block, code) of each warning ``check`` gives, fed ``blocks`` one at a time."""
    return [(i, w.code) for i, block in enumerate(blocks) for w in check.feed(block)]


def test_silence_and_quietness_are_each_said_once_and_end_at_the_first_loud_block():
    quiet = np.full((BLOCK, 2), 10 ** ((QUIET_DBFS - 10) / 20), np.float32)  # (S, C), 10 dB under the line

    check = InputCheck(RATE)
    assert said_at(check, [np.zeros(BLOCK, np.float32)] * 50) == [(29, "silent")]  # 5 s of zeros: at 3 s, once
    warnings = [w for _ in range(100) for w in check.feed(quiet)]  # quiet from 5 s on: said at 10 s, once
    assert [(w.code, w.seconds, round(w.dbfs)) for w in warnings] == [("quiet", 10.0, QUIET_DBFS - 10)]
    assert f"its loudest at {QUIET_DBFS - 10:.0f} dBFS" in warnings[0].message()

    loud_right = quiet.copy()
    loud_right[:, 1] = 0.1  # one of two microphones at -20 dBFS: the input works
    check = InputCheck(RATE)
    assert check.feed(loud_right) == [] and check.heard
    assert said_at(check, [np.zeros(BLOCK, np.float32)] * 200) == []  # 20 s of zeros after: nothing
    assert check.close() == []

    check = InputCheck(RATE)  # quiet from the start: the silence rule never speaks, the quiet one at 10 s
    assert said_at(check, [quiet[:, 0]] * 120) == [(99, "quiet")]
    assert check.close() == []  # said already


def test_clipping_is_said_once_and_not_for_one_short_burst():
    rng = np.random.default_rng(0)
    speech = (0.1 * rng.standard_normal(BLOCK)).astype(np.float32)  # -20 dBFS
    burst = speech.copy()
    burst[:40] = 1.0  # 2.5 ms at full scale: a cough, a knock
    check = InputCheck(RATE)
    assert said_at(check, [burst if i == 60 else speech for i in range(200)]) == []  # 40 samples in 80,000

    hot = np.clip(speech * 20, -1, 1)  # +26 dB: about a fifth of its samples clipped
    # the window (5 s, 80,000 samples) is full already: the first hot block's ~300 clipped samples pass the share (80)
    assert CLIPPED_SHARE * CLIP_WINDOW_S * RATE < np.sum(np.abs(hot) >= 0.999)
    warnings = [w for _ in range(100) for w in check.feed(hot)]
    assert [w.code for w in warnings] == ["clipped"] and warnings[0].seconds == 20.1
    assert "lower the input volume" in warnings[0].message() and check.said == ["clipped"]


def test_full_scale_is_the_encodings_own():
    """G.711's loudest code decodes to 0.98 of full scale: a check told so hears its clipping."""
    from streamasr.protocol import PEAK, decode_audio, encode_audio

    hot = np.clip(20 * np.sin(np.arange(6 * 8000) / 3), -1, 1).astype(np.float32)  # (S,) 6 s, mostly clipped
    mulaw = decode_audio(encode_audio(hot, "mulaw"), "mulaw")
    assert np.abs(mulaw).max() == PEAK["mulaw"] < 0.999
    assert InputCheck(8000).feed(mulaw) == []
    assert [w.code for w in InputCheck(8000, full_scale=0.999 * PEAK["mulaw"]).feed(mulaw)] == ["clipped"]


@pytest.mark.parametrize("piece", [1, 7, 160, 1599, 1601, 48000, 10**6])
def test_what_is_said_does_not_depend_on_how_the_audio_is_cut(piece):
    """The same audio in pieces of any size, one block's worth or a whole frame of many seconds: the same
    warnings, at the same seconds of audio."""
    rng = np.random.default_rng(1)
    audio = np.concatenate([np.zeros(4 * RATE), np.full(8 * RATE, 10 ** (-55 / 20)),  # silence, quiet
                            np.clip(rng.standard_normal(7 * RATE), -1, 1)]).astype(np.float32)  # loud, clipping
    whole = InputCheck(RATE).feed(audio)
    assert [(w.code, w.seconds) for w in whole] == [("silent", 3.0), ("quiet", 10.0), ("clipped", 12.1)]
    check = InputCheck(RATE)
    assert [w for i in range(0, len(audio), piece) for w in check.feed(audio[i : i + piece])] == whole


def test_a_source_that_ends_before_a_rule_could_speak_is_said_at_its_close():
    check = InputCheck(RATE)
    assert check.feed(np.zeros(2 * RATE, np.float32)) == []
    assert [(w.code, w.seconds) for w in check.close()] == [("silent", 2.0)]
    check = InputCheck(RATE)
    assert check.feed(np.full(4 * RATE, 10 ** (-60 / 20), np.float32)) == []
    assert [(w.code, w.seconds, round(w.dbfs)) for w in check.close()] == [("quiet", 4.0, -60)]
    assert InputCheck(RATE).close() == []  # no audio: nothing to say of it
