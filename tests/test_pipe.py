"""streamasr.pipe: a pipe's bytes, cut anywhere, give the samples they give whole, and what a file reader reads."""

import io
import struct

import numpy as np
import pytest
import soundfile as sf
import soxr

from streamasr.errors import AudioError
from streamasr.pipe import MAX_WAV_HEADER, PipeDecoder, RawFormat, wav_header
from streamasr.protocol import encode_audio


def sound(seconds: float, rate: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    """(S, C) float32: a tone and some noise, a different one per channel."""
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    return np.stack([0.3 * np.sin(2 * np.pi * (220 + 110 * c) * t) + 0.05 * rng.standard_normal(len(t))
                     for c in range(channels)], axis=1).astype(np.float32)


def wav_bytes(x: np.ndarray, rate: int, subtype: str) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, rate, subtype=subtype, format="WAV")
    return buf.getvalue()


def decode(data: bytes, fmt: RawFormat | None, rate: int, cuts: list[int]) -> np.ndarray:
    """``data`` fed in pieces that end at ``cuts``, then the end of the pipe."""
    pipe = PipeDecoder(fmt, rate)
    bounds = [0, *cuts, len(data)]
    return np.concatenate([pipe.feed(data[a:b]) for a, b in zip(bounds, bounds[1:])] + [pipe.finish()])


def random_cuts(n: int, seed: int) -> list[int]:
    """Cuts of 1 to 997 bytes apart, anywhere (inside samples and headers too)."""
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.integers(1, 998, size=n // 300 + 1)).clip(max=n).tolist()


@pytest.mark.parametrize("fmt", [RawFormat(16000, "pcm_s16le"), RawFormat(8000, "mulaw"), RawFormat(8000, "alaw"),
                                 RawFormat(44100, "f32le", 2), RawFormat(16000, "pcm_s16le", 3)])
def test_raw_samples_cut_anywhere_equal_the_samples_whole(fmt):
    x = sound(0.5, fmt.sample_rate, fmt.channels)  # (S, C)
    data = encode_audio(x.reshape(-1), fmt.encoding)  # interleaved
    whole = decode(data, fmt, 16000, [])
    assert np.array_equal(decode(data, fmt, 16000, random_cuts(len(data), 1)), whole)
    assert np.array_equal(decode(data, fmt, 16000, list(range(1, len(data)))), whole)  # a byte at a time
    if fmt.sample_rate == 16000 and fmt.encoding == "pcm_s16le":  # no resampling: the samples themselves
        expected = (np.round(x * 32768) / 32768).mean(axis=1, dtype=np.float32)
        np.testing.assert_allclose(whole, expected, atol=1e-6)
    else:  # at 16 kHz
        assert len(whole) == pytest.approx(len(x) * 16000 / fmt.sample_rate, abs=1)


@pytest.mark.parametrize("subtype,rate,channels", [("PCM_16", 16000, 1), ("PCM_16", 22050, 2), ("FLOAT", 48000, 1),
                                                   ("ULAW", 8000, 1), ("ALAW", 8000, 1), ("PCM_16", 16000, 3)])
def test_a_wav_stream_reads_as_a_file_reader_reads_it(subtype, rate, channels):
    """Its header, cut anywhere, names the format (three channels: WAVE_FORMAT_EXTENSIBLE); the audio is what
    libsndfile reads from the same bytes, averaged and resampled."""
    data = wav_bytes(sound(0.4, rate, channels), rate, subtype)
    got = decode(data, None, 16000, random_cuts(len(data), 2))
    assert np.array_equal(got, decode(data, None, 16000, list(range(1, 100))))  # the header a byte at a time
    ref, ref_rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    ref = ref.mean(axis=1, dtype=np.float32)
    expected = ref if ref_rate == 16000 else soxr.resample(ref, ref_rate, 16000)
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("fmt", [None, RawFormat(8000, "mulaw", 2), RawFormat(16000, "pcm_s16le", 2)])
def test_channels_kept_apart_read_as_each_channel_alone(fmt):
    """``keep_channels``: (S, C), the same however the bytes were cut; each column the samples of that channel,
    resampled as a stream of its own would be."""
    rate = fmt.sample_rate if fmt else 22050
    x = sound(0.4, rate, 2)  # (S, 2)
    data = wav_bytes(x, rate, "PCM_16") if fmt is None else encode_audio(x.reshape(-1), fmt.encoding)

    def kept(cuts: list[int]) -> np.ndarray:
        pipe = PipeDecoder(fmt, 16000, keep_channels=True)
        bounds = [0, *cuts, len(data)]
        return np.concatenate([y for a, b in zip(bounds, bounds[1:]) if len(y := pipe.feed(data[a:b]))]
                              + [pipe.finish()])  # (S', 2)

    got = kept(random_cuts(len(data), 4))
    assert got.shape[1] == 2 and np.array_equal(got, kept([]))
    if fmt is None:
        x = sf.read(io.BytesIO(data), dtype="float32")[0]  # (S, 2) as the file holds them (16-bit)
    for c in range(2):
        alone = encode_audio(np.ascontiguousarray(x[:, c]), "pcm_s16le" if fmt is None else fmt.encoding)
        np.testing.assert_allclose(got[:, c], decode(alone, RawFormat(rate, fmt.encoding if fmt else "pcm_s16le"),
                                                     16000, []), atol=1e-6)


def test_a_wav_stream_ends_where_its_data_chunk_says():
    """A chunk after the audio (metadata some writers put last) is not read as samples."""
    x = sound(0.2, 16000)
    data = wav_bytes(x, 16000, "PCM_16") + b"LIST" + struct.pack("<I", 8) + b"INFOtest"
    assert len(decode(data, None, 16000, random_cuts(len(data), 3))) == len(x)


def test_a_wav_stream_of_unknown_length_is_read_to_the_end():
    """A writer to a pipe cannot know the length: 0 or 0xFFFFFFFF in the data chunk's size."""
    data = bytearray(wav_bytes(sound(0.2, 16000), 16000, "PCM_16"))
    assert data[36:40] == b"data"
    for size in (0, 0xFFFFFFFF):
        data[40:44] = struct.pack("<I", size)
        extra = encode_audio(np.full(160, 0.25, np.float32), "pcm_s16le")
        got = decode(bytes(data) + extra, None, 16000, [50])
        assert len(got) == 3200 + 160 and np.allclose(got[-160:], 0.25)


def test_a_pipe_that_ends_inside_a_sample_drops_that_sample_and_says_so():
    pipe = PipeDecoder(RawFormat(16000, "pcm_s16le", 2), 16000)
    assert pipe.feed(b"\x00\x40\x00\x40\x00\x40").tolist() == [0.5]
    assert pipe.finish().tolist() == [] and pipe.trailing_bytes == 2


@pytest.mark.parametrize("data,message", [
    (b"RIFF\x00\x00\x00\x00AVI LIST", "not a WAV stream"),
    (b"RIFF\x00\x00\x00\x00WAVEdata\x00\x00\x00\x00", "before its fmt chunk"),
    (b"RIFF\x00\x00\x00\x00WAVEfmt \x04\x00\x00\x00abcd", "fmt chunk has 4 bytes"),
    (b"RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + struct.pack("<HHIIHH", 1, 1, 16000, 48000, 3, 24),
     "24-bit samples"),
    (b"RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + struct.pack("<HHIIHH", 1, 1, 5, 10, 2, 16), "5 Hz"),
    (b"RIFF\x00\x00\x00\x00WAVELIST" + struct.pack("<I", MAX_WAV_HEADER), "no audio within"),
])
def test_a_stream_that_is_no_wav_of_ours_is_a_clear_error(data, message):
    with pytest.raises(AudioError, match=message):
        PipeDecoder(None, 16000).feed(data)


def test_the_end_of_the_pipe_inside_a_wav_header_is_an_error():
    pipe = PipeDecoder(None, 16000)
    assert pipe.feed(b"RIFF\x00\x00\x00\x00WAVEfmt ").tolist() == []
    with pytest.raises(AudioError, match="ended inside its WAV header"):
        pipe.finish()


def test_raw_float_samples_that_are_not_numbers_are_an_error():
    pipe = PipeDecoder(RawFormat(16000, "f32le"), 16000)
    with pytest.raises(AudioError, match="NaN"):
        pipe.feed(np.array([0.1, np.nan], "<f4").tobytes())


@pytest.mark.parametrize("kwargs,message", [({"encoding": "mp3"}, "unknown encoding"),
                                            ({"sample_rate": 0}, "outside 1000..192000"),
                                            ({"channels": 0}, "outside 1..32")])
def test_a_raw_format_we_cannot_read_is_refused(kwargs, message):
    with pytest.raises(AudioError, match=message):
        RawFormat(**kwargs)


def test_wav_header_waits_for_the_bytes_that_reach_the_audio():
    data = wav_bytes(sound(0.1, 8000), 8000, "ULAW")
    fmt, length, size = wav_header(data)
    assert fmt == RawFormat(8000, "mulaw", 1) and size == 800 and data[length - 8 : length - 4] == b"data"
    assert all(wav_header(data[:n]) is None for n in range(length))


def test_a_session_fed_through_a_pipe_in_odd_pieces_gives_the_events_of_its_samples_whole(bundled_rec, tmp_path):
    """Call audio as a socket delivers it (mu-law bytes at 8 kHz, cut anywhere) into a session, through the
    package's public names: the same events as the decoded samples given to a session at once."""
    import streamasr
    from speech import HELD_OUT_SENTENCES, espeak

    x = espeak(HELD_OUT_SENTENCES[3], tmp_path / "s.wav")
    data = encode_audio(soxr.resample(x, 16000, 8000), "mulaw")
    fmt = streamasr.RawFormat(8000, "mulaw")
    live, pipe = bundled_rec.session(chunk_ms=320), streamasr.PipeDecoder(fmt, bundled_rec.sample_rate)
    bounds = [0, *random_cuts(len(data), 4), len(data)]
    events = [ev for a, b in zip(bounds, bounds[1:]) for ev in live.accept(pipe.feed(data[a:b]))]
    events += live.accept(pipe.finish()) + live.finish()
    whole = bundled_rec.session(chunk_ms=320)
    assert events == whole.accept(decode(data, fmt, 16000, [])) + whole.finish()
    assert streamasr.transcript(events)
