import os
import subprocess

import numpy as np
import pytest

from streamasr.data import espeak_random
from streamasr.data.voices import HELDOUT_ACCENTS, RANDOM_PARENTS, Voice, all_voices, is_heldout, speak

TEXT = "and the lord spake unto moses saying"


def test_random_espeak_voices_are_voices_of_their_own():
    # espeak-ng speaks its default voice, silently, for a variant it cannot find: each must be found
    plain = speak(Voice("espeak-ng", "en-us"), TEXT, 1.0, 0.5)
    parents = [speak(Voice("espeak-ng", f"en-us+{p}"), TEXT, 1.0, 0.5) for p in RANDOM_PARENTS]
    randoms = [speak(Voice("espeak-ng-random", f"en-us+{espeak_random.variant_name(k)}"), TEXT, 1.0, 0.5)
               for k in (0, 1, espeak_random.COUNT - 1)]
    for i, audio in enumerate(randoms):
        for other in [plain, *parents, *randoms[:i]]:
            assert len(audio) != len(other) or np.abs(audio - other).max() > 0.05
    again = speak(Voice("espeak-ng-random", f"en-us+{espeak_random.variant_name(0)}"), TEXT, 1.0, 0.5)
    assert np.array_equal(again, randoms[0])


@pytest.mark.parametrize("prefix", [espeak_random.PREFIX, espeak_random.ACCENT_PREFIX])
def test_espeak_lists_every_random_variant_and_every_language(prefix):
    env = {**os.environ, "ESPEAK_DATA_PATH": espeak_random.data_path(RANDOM_PARENTS, prefix)}
    listed = subprocess.run(["espeak-ng", "--voices"], env=env, capture_output=True, text=True, check=True)
    assert "maximum number" not in listed.stderr  # past 349 voice files espeak-ng lists no more
    variants = subprocess.run(["espeak-ng", "--voices=variant"], env=env, capture_output=True, text=True, check=True)
    names = {line.split()[3] for line in variants.stdout.splitlines()[1:]}
    assert names == {espeak_random.variant_name(k, prefix) for k in range(espeak_random.COUNT)}


def test_accented_espeak_voices_speak_their_replacements():
    k = next(k for k in range(espeak_random.COUNT) if "replace 0 h NULL" in espeak_random.accent_rules(k))
    accented = f"en-us+{espeak_random.variant_name(k, espeak_random.ACCENT_PREFIX)}"
    env = {**os.environ, "ESPEAK_DATA_PATH": espeak_random.data_path(RANDOM_PARENTS, espeak_random.ACCENT_PREFIX)}

    def phonemes(voice: str, **kw) -> str:
        return subprocess.run(["espeak-ng", "-q", "-x", "-v", voice, "he has a house"], capture_output=True,
                              text=True, check=True, **kw).stdout

    assert "h" in phonemes("en-us") and "h" not in phonemes(accented, env=env)  # h-dropping
    twin = speak(Voice("espeak-ng-random", f"en-us+{espeak_random.variant_name(k)}"), TEXT, 1.0, 0.5)
    audio = speak(Voice("espeak-ng-accent", accented), TEXT, 1.0, 0.5)
    assert len(audio) != len(twin) or np.abs(audio - twin).max() > 0.05


def test_random_espeak_voices_are_training_voices():
    for engine in ("espeak-ng-random", "espeak-ng-accent"):
        voices = all_voices((engine,))
        assert len(voices) == 7 * espeak_random.COUNT  # the training accents
        assert not any(is_heldout(v) for v in voices)
        assert not {v.name.split("+")[0] for v in voices} & HELDOUT_ACCENTS


def test_en_gb_drops_its_variant_as_the_corpora_were_made():
    # The plans of every corpus so far name "en-gb+<variant>"; espeak-ng speaks its plain British voice
    # for all of them. If this changes, those corpora's British audio changes with it.
    plain = speak(Voice("espeak-ng", "en-gb"), TEXT, 1.0, 0.5)
    assert np.array_equal(speak(Voice("espeak-ng", "en-gb+f2"), TEXT, 1.0, 0.5), plain)
    british_f2 = speak(Voice("espeak-ng-random", "en+rv000"), TEXT, 1.0, 0.5)
    assert len(british_f2) != len(plain) or np.abs(british_f2 - plain).max() > 0.05


def test_converted_voices_take_their_pitch_and_keep_the_length():
    import parselmouth
    from parselmouth.praat import call

    from streamasr.data import convert

    def median_pitch(audio):
        sound = parselmouth.Sound(audio.astype(np.float64), sampling_frequency=16000)
        return call(sound.to_pitch(), "Get quantile", 0, 0, 0.5, "Hertz")

    base = speak(Voice("flite", "awb"), TEXT, 1.0, 0.5)
    for k in (3, 11):  # one voice higher than awb's own pitch, one lower
        c = convert.conversion(k)
        voice = Voice("converted", convert.voice_name("flite:awb", k))
        audio = speak(voice, TEXT, 1.0, 0.5)
        assert abs(len(audio) - len(base)) <= 16  # the same utterance, its own length
        assert abs(median_pitch(audio) / c.pitch_median - 1) < 0.05  # pitch 0.5: the voice's own median
        assert np.array_equal(audio, speak(voice, TEXT, 1.0, 0.5))  # Praat's random numbers are seeded
    assert convert.conversion(3).pitch_median > 1.2 * median_pitch(base) > 1.2 * convert.conversion(11).pitch_median


def test_converted_voices_grow_from_training_voices_alone():
    from streamasr.data import convert

    converted = all_voices(("converted",))
    assert len(converted) == 5 * convert.COUNT  # flite's three training voices and Pico's two
    bases = {":".join(convert.parse_name(v.name)[:2]) for v in converted}
    assert not any(is_heldout(Voice(*b.split(":"))) for b in bases) and not any(is_heldout(v) for v in converted)


def test_formant_voices_warp_the_envelope_keep_the_length_and_take_their_pitch():
    import parselmouth
    from parselmouth.praat import call

    from streamasr.data import formant

    # A 100 Hz pulse train through resonances at 500, 1500 and 2500 Hz: the warp moves the resonances
    # (read as the loudest harmonics' neighbourhoods) by each band's slope, the harmonics stay at 100 Hz.
    sr, x = 16000, np.zeros(16000)
    x[::160] = 1.0
    for f in (500, 1500, 2500):
        r, theta = np.exp(-np.pi * 80 / sr), 2 * np.pi * f / sr
        y = np.zeros_like(x)
        for n in range(len(x)):
            y[n] = x[n] + 2 * r * np.cos(theta) * (y[n - 1] if n else 0) - r * r * (y[n - 2] if n > 1 else 0)
        x = y
    x = (x / np.abs(x).max()).astype(np.float32)

    def resonances(audio):  # harmonics louder than both neighbours, Hz
        spectrum = np.abs(np.fft.rfft(audio[4000:12000])) ** 2  # 2 Hz bins
        h = spectrum[50 * np.arange(1, 40)]  # (39,) the harmonics k * 100 Hz
        return [100 * (i + 1) for i in range(1, len(h) - 1) if h[i] > max(h[i - 1], h[i + 1])]

    assert resonances(x) == [500, 1500, 2500]
    up = formant.Reshape(slopes=(1.12, 1.12, 1.12, 1.12), contrast=1.0, pitch_median=100.0, pitch_range=1.0)
    assert resonances(formant.envelope_warp(x, sr, up)) == [600, 1700, 2800]  # x 1.12 to the nearest harmonic
    uneven = formant.Reshape(slopes=(1.2, 1.0, 0.9, 1.0), contrast=1.0, pitch_median=100.0, pitch_range=1.0)
    assert resonances(formant.envelope_warp(x, sr, uneven)) == [round(formant.warp(f, uneven.slopes), -2)
                                                                  for f in (500, 1500, 2500)] == [600, 1700, 2600]

    def median_pitch(audio):
        sound = parselmouth.Sound(audio.astype(np.float64), sampling_frequency=16000)
        return call(sound.to_pitch(), "Get quantile", 0, 0, 0.5, "Hertz")

    base = speak(Voice("mbrola", "mb-us1"), TEXT, 1.0, 0.5)
    for k in (0, 4):
        voice = Voice("formant", f"mbrola/mb-us1/{k:03d}")
        audio = speak(voice, TEXT, 1.0, 0.5)
        assert len(audio) == len(base)
        assert abs(median_pitch(audio) / formant.reshape_of(k).pitch_median - 1) < 0.05
        assert np.array_equal(audio, speak(voice, TEXT, 1.0, 0.5))


def test_formant_voices_grow_from_training_voices_alone():
    from streamasr.data import convert, formant
    from streamasr.data.voices import FORMANT_BASES

    voices = all_voices(("formant",))
    assert len(voices) == len(FORMANT_BASES) * formant.COUNT == 9 * formant.COUNT  # nine recorded speakers
    bases = {":".join(convert.parse_name(v.name)[:2]) for v in voices}
    assert bases == set(FORMANT_BASES)
    assert not any(is_heldout(Voice(*b.split(":"))) for b in bases) and not any(is_heldout(v) for v in voices)


def test_accented_mbrola_voices_are_sixteen_recorded_speakers_reading_english():
    from streamasr.data.voices import MBROLA_ACCENTED

    voices = all_voices(("mbrola-accent",))
    assert [v.name for v in voices] == MBROLA_ACCENTED and len({v.name.split("-")[1] for v in voices}) == 16
    assert not any(is_heldout(v) for v in voices)
    german = speak(Voice("mbrola-accent", "mb-de4-en"), TEXT, 1.0, 0.5)
    english = speak(Voice("mbrola", "mb-us2"), TEXT, 1.0, 0.5)
    assert 1.0 < len(german) / 16000 < 5 and np.abs(german).max() > 0.05
    assert len(german) != len(english) or np.abs(german - english).max() > 0.05  # another speaker's diphones


def test_diphone_voices_speak_flites_english_in_their_own_phones():
    from streamasr.data import diphone

    voices = all_voices(("diphone",))
    assert {v.name.split("/")[0] for v in voices} == set(diphone.VOICES)  # every foreign voice is installed
    assert not any(is_heldout(v) for v in voices)
    assert not any(is_heldout(Voice("flite", f)) for f in diphone.FRONT_ENDS)  # flite's English: training voices only
    for name, (table, _) in diphone.VOICES.items():  # every English phone flite makes has a mapping
        assert set(table) >= set(diphone.ITALIAN) - {"hh"}
    audio = speak(Voice("diphone", "lp_diphone/awb"), TEXT, 1.0, 0.5)
    assert 1.0 < len(audio) / 16000 < 5 and np.abs(audio).max() > 0.05


def test_mbrola_script_installs_exactly_the_voices_the_engines_name():
    """recipes/mbrola-voices.sh (shell, run before Python has its packages) lists the packages; voices.py the
    voices: "mb-us1" and "mb-de4-en" are packages mbrola-us1 and mbrola-de4. Each list must name the other's."""
    import re
    from pathlib import Path

    from streamasr.data.voices import MBROLA_ACCENTED, MBROLA_VOICES

    script = (Path(__file__).parents[2] / "recipes" / "mbrola-voices.sh").read_text()
    listed = re.search(r"^packages=\((.*?)\)", re.sub(r"#.*", "", script), re.S | re.M).group(1)
    packages = set(listed.split())
    wanted = {"mbrola"} | {"mbrola-" + v.split("-")[1] for v in MBROLA_VOICES + MBROLA_ACCENTED}
    assert packages == wanted
