import numpy as np
import pytest

from streamasr.protocol import ProtocolError, StartMessage, decode_audio, encode_audio


def test_g711_tables_match_the_standard_library_reference():
    audioop = pytest.importorskip("audioop")  # Python <= 3.12: an independent G.711 implementation
    codes = bytes(range(256))
    for enc, ref in (("mulaw", audioop.ulaw2lin), ("alaw", audioop.alaw2lin)):
        expected = np.frombuffer(ref(codes, 2), "<i2") / 32768.0
        assert np.array_equal(decode_audio(codes, enc), expected.astype(np.float32))


@pytest.mark.parametrize("enc,tol", [("pcm_s16le", 1 / 32768), ("f32le", 0), ("mulaw", 0.032), ("alaw", 0.032)])
def test_encode_then_decode_is_close(enc, tol):
    x = np.linspace(-1, 1, 4001).astype(np.float32)
    y = decode_audio(encode_audio(x, enc), enc)
    assert np.abs(y - x).max() <= tol + 1e-7


@pytest.mark.parametrize("enc", ["pcm_s16le", "f32le", "mulaw", "alaw"])
def test_pcm_arrays_encode_as_their_float_samples(enc):
    """An int16 or int32 frame (a sound card's, a WAV reader's) goes out as the floats it stands for; 16-bit PCM
    out of int16 PCM is the same bytes."""
    pcm = np.random.default_rng(1).integers(-32768, 32768, 1000).astype(np.int16)
    as_float = pcm.astype(np.float32) / 32768
    assert encode_audio(pcm, enc) == encode_audio(as_float, enc) == encode_audio(pcm.astype(np.int32) << 16, enc)
    if enc == "pcm_s16le":
        assert encode_audio(pcm, enc) == pcm.astype("<i2").tobytes()
    with pytest.raises(ValueError, match="int64 samples"):
        encode_audio(pcm.astype(np.int64), enc)


def test_g711_encoding_picks_the_nearest_level():
    x = np.random.default_rng(0).uniform(-1, 1, 1000).astype(np.float32)
    for enc in ("mulaw", "alaw"):
        levels = decode_audio(bytes(range(256)), enc)
        best = levels[np.abs(levels[None, :] - x[:, None]).argmin(1)]
        assert np.allclose(np.abs(decode_audio(encode_audio(x, enc), enc) - x), np.abs(best - x))


@pytest.mark.parametrize("bad", [{"sample_rate": True}, {"sample_rate": "8000"}, {"hotwords": "x"},
                                 {"chunk_ms": 1.5}, {"silence_after_speech_s": 0}, {"max_utterance_s": 500},
                                 {"left_chunks": 100000}, {"left_chunks": -2}, {"quiet_tail": "no"},
                                 {"final_pass": 1}, {"silence_after_speech_s": True}, {"hotword_weight": -1},
                                 {"hotword_weight": 20.5}, {"hotword_weight": "10"}, {"hotword_weight": True},
                                 {"hotword_weight": float("nan")}, {"hotword_weight": None}])
def test_start_message_validation(bad):
    with pytest.raises(ProtocolError):
        StartMessage.from_dict({"type": "start"} | bad)


def test_start_message_takes_a_hotword_weight():
    assert StartMessage.from_dict({"type": "start"}).hotword_weight is None  # the server's
    assert StartMessage.from_dict({"type": "start", "hotword_weight": 12}).hotword_weight == 12
    assert StartMessage.from_dict({"type": "start", "hotword_weight": 0.5}).hotword_weight == 0.5


def test_start_message_sets_the_endpoint_rules():
    ep = StartMessage.from_dict({"type": "start", "silence_after_speech_s": 0.8, "quiet_tail": False}).endpoint()
    assert ep.silence_after_speech_s == 0.8 and ep.tail_floor_db == 0
    assert StartMessage.from_dict({"type": "start"}).endpoint().tail_floor_db > 0
