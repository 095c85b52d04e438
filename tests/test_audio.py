"""streamasr.audio: files of any common format, rate and channel count, to mono float32 at the model's rate."""

import numpy as np
import pytest
import soundfile as sf
import soxr

from speech import HELD_OUT_SENTENCES, espeak
from streamasr.audio import load_audio, load_channels, read_as_held, read_blocks
from streamasr.errors import AudioError
from streamasr.events import transcript
from streamasr.metrics import error_rate
from streamasr.pipe import RawFormat
from streamasr.protocol import decode_audio, encode_audio


@pytest.mark.parametrize("fmt,subtype,suffix", [("MP3", None, "mp3"), ("OGG", "OPUS", "opus"),
                                                ("OGG", "VORBIS", "ogg"), ("FLAC", None, "flac")])
def test_compressed_files_are_read_and_recognized(bundled_rec, tmp_path, fmt, subtype, suffix):
    """Speech saved as MP3, Opus, Vorbis (lossy) or FLAC at 48 kHz stereo: read at 16 kHz mono, as long as the
    speech, and the bundled model hears the sentence."""
    x = espeak(HELD_OUT_SENTENCES[2], tmp_path / "s.wav")
    y = soxr.resample(x, 16000, 48000)
    path = tmp_path / f"s.{suffix}"
    sf.write(path, np.stack([y, y], axis=1), 48000, format=fmt, subtype=subtype)
    got = load_audio(path)
    assert abs(len(got) - len(x)) <= 0.05 * 16000  # codec delay and padding at most 50 ms
    session = bundled_rec.session()
    text = transcript(session.accept(got) + session.finish())
    assert error_rate([HELD_OUT_SENTENCES[2]], [text]) <= 0.2, text


def test_what_is_no_audio_is_a_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("not audio")
    with pytest.raises(AudioError, match="cannot read"):
        load_audio(tmp_path / "notes.txt")
    with pytest.raises(AudioError, match="no such audio file"):
        load_audio(tmp_path / "missing.wav")
    with pytest.raises(AudioError, match="is a folder"):
        load_audio(tmp_path)


def tone(seconds: float, rate: int, channels: int) -> np.ndarray:
    """(S, C) float32: a different tone on each channel."""
    t = np.arange(int(seconds * rate)) / rate
    return np.stack([0.3 * np.sin(2 * np.pi * (300 + 200 * c) * t) for c in range(channels)], axis=1).astype(np.float32)


@pytest.mark.parametrize("rate", [48000, 16000, 8000])
def test_a_file_is_read_as_a_stream_of_bounded_blocks(tmp_path, rate):
    """However long the file, no block is much over a second (so memory stays bounded); the blocks, joined,
    are the whole file resampled (soxr, at once), each channel kept apart as if it were alone."""
    x = tone(7.3, rate, 2)
    sf.write(tmp_path / "long.flac", x, rate, subtype="PCM_24")
    x = sf.read(tmp_path / "long.flac", dtype="float32")[0]  # as the file holds it
    blocks = list(read_blocks(tmp_path / "long.flac", 16000, keep_channels=True))
    assert max(len(b) for b in blocks) <= 1.1 * 16000 and all(b.shape[1] == 2 for b in blocks)
    kept = np.concatenate(blocks)
    assert abs(len(kept) - len(x) * 16000 / rate) <= 1
    for c in range(2):
        whole = x[:, c] if rate == 16000 else soxr.resample(x[:, c], rate, 16000)
        np.testing.assert_allclose(kept[: len(whole), c], whole[: len(kept)], atol=1e-4)
    mono = load_audio(tmp_path / "long.flac")
    np.testing.assert_allclose(mono, kept.mean(axis=1), atol=1e-5)
    assert np.array_equal(load_channels(tmp_path / "long.flac"), kept)


def test_samples_that_are_no_numbers_midway_fail_while_reading(tmp_path):
    x = tone(3.0, 16000, 1)
    x[30000] = np.nan
    sf.write(tmp_path / "nan.wav", x, 16000, subtype="FLOAT")
    blocks = read_blocks(tmp_path / "nan.wav", 16000)
    assert len(next(blocks)) == 16000  # the first second is read
    with pytest.raises(AudioError, match="nan.wav: audio contains NaN"):
        list(blocks)


@pytest.mark.parametrize("rate, subtype, channels, keep, expected", [
    (8000, "ULAW", 1, False, RawFormat(8000, "mulaw")),  # a call recording: its codes as they are
    (8000, "ALAW", 2, True, RawFormat(8000, "alaw", 2)),
    (8000, "ULAW", 2, False, RawFormat(8000, "f32le")),  # the mix of two channels is no mu-law code
    (44100, "PCM_16", 1, False, RawFormat(44100, "pcm_s16le")),
    (22050, "PCM_U8", 1, False, RawFormat(22050, "pcm_s16le")),
    (48000, "PCM_24", 2, True, RawFormat(48000, "f32le", 2)),  # wider than 16 bits
    (16000, "FLOAT", 1, False, RawFormat(16000, "f32le")),
    (500, "PCM_16", 1, False, RawFormat(16000, "f32le")),  # a rate no pipe takes: read at 16 kHz
])
def test_the_format_a_file_is_read_in_holds_its_samples_as_they_are(tmp_path, rate, subtype, channels, keep,
                                                                     expected):
    """``read_as_held``: the file's rate and the encoding that holds its samples as it reads them at that rate,
    so that they can be checked and sent as the file holds them; what it names does hold them."""
    sf.write(tmp_path / "a.wav", tone(0.5, rate, channels), rate, subtype=subtype)
    fmt, blocks = read_as_held(tmp_path / "a.wav", keep_channels=keep)
    assert fmt == expected
    x = np.concatenate(list(blocks))
    again = read_blocks(tmp_path / "a.wav", fmt.sample_rate, keep_channels=keep)
    assert np.array_equal(x, np.concatenate(list(again)))  # as read_blocks reads it at that rate
    assert x.shape[1:] == ((channels,) if keep else ())
    if fmt.encoding != "f32le":
        assert np.array_equal(decode_audio(encode_audio(x.reshape(-1), fmt.encoding), fmt.encoding), x.reshape(-1))
    with pytest.raises(AudioError, match="no such audio file"):
        read_as_held(tmp_path / "b.wav")
