"""streamasr.audio: files of any common format, rate and channel count, to mono float32 at the model's rate."""

import numpy as np
import pytest
import soundfile as sf
import soxr

from speech import HELD_OUT_SENTENCES, espeak
from streamasr.audio import load_audio
from streamasr.errors import AudioError
from streamasr.events import transcript
from streamasr.metrics import error_rate


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
