"""Microphone capture with sounddevice: blocks of float32 samples into a queue. What they say about the microphone
(muted, too quiet, clipping) is ``streamasr.levels.InputCheck``'s to notice."""

from __future__ import annotations

import logging
import queue
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from streamasr.errors import DeviceError
from streamasr.levels import LevelWarning

log = logging.getLogger("streamasr")


def describe(warning: LevelWarning) -> str:
    """An input check's warning about the microphone, with what to do about a silent one.

    >>> describe(LevelWarning("silent", 3.0))[:96]
    'the microphone has sent only digital silence (every sample 0) for 3 s: it may be muted, or this '
    """
    if warning.code != "silent":
        return warning.message("the microphone")
    return (warning.message("the microphone") + ", or this program not allowed to record (on macOS: System "
            "Settings > Privacy & Security > Microphone); `streamasr mic --list-devices` lists the inputs")


INVALID_SAMPLE_RATE = -9997  # PortAudio's paInvalidSampleRate


def input_rate(wanted: int, device: str | int | None = None, channels: int = 1) -> int:
    """The rate to record from ``device`` at: ``wanted`` where the device takes it, else the device's own default
    rate (a JACK server runs at one rate, and Windows' shared mode and Linux's hw devices take only their own),
    which the caller resamples from. Opens nothing; a device that cannot be queried gets ``wanted``, so that
    ``microphone`` says what is wrong with it."""
    sd = _sounddevice()
    try:
        sd.check_input_settings(device=device, channels=channels, dtype="float32", samplerate=wanted)
        return wanted
    except sd.PortAudioError as e:
        if len(e.args) < 2 or e.args[1] != INVALID_SAMPLE_RATE:
            return wanted
    except ValueError:  # no such device
        return wanted
    try:
        return int(sd.query_devices(device, "input")["default_samplerate"])
    except (sd.PortAudioError, ValueError):
        return wanted


@contextmanager
def microphone(sample_rate: int = 16000, block_ms: int = 100, device: str | int | None = None,
               max_blocks: int = 600, channels: int = 1) -> Iterator["queue.Queue[np.ndarray]"]:
    """Yield a queue that receives (S,) float32 mono blocks from the input device until exit ((S, C) blocks of
    its first ``channels`` where more than one is asked for: two microphones on a stereo input), recorded at
    ``sample_rate`` (``input_rate`` says which one the device takes). ``device``: a
    PortAudio device index or (part of a) name; None: the system's default input. Raises ``DeviceError`` where
    the device cannot be opened. A consumer more than ``max_blocks`` behind (a minute of 100 ms blocks) loses
    the blocks that do not fit, which a warning at exit counts."""
    sd = _sounddevice()
    blocks: queue.Queue[np.ndarray] = queue.Queue(maxsize=max_blocks)
    dropped = [0]  # samples that did not fit

    def callback(indata, frames, time_info, status):  # runs in PortAudio's thread
        try:
            blocks.put_nowait(indata[:, 0].copy() if channels == 1 else indata.copy())  # (S,) or (S, C)
        except queue.Full:
            dropped[0] += frames  # the consumer stalled; dropping audio beats unbounded memory (said at exit)

    try:
        stream = sd.InputStream(samplerate=sample_rate, channels=channels, dtype="float32", device=device,
                                blocksize=sample_rate * block_ms // 1000, callback=callback)
    except (sd.PortAudioError, ValueError) as e:  # no such device, no device at all, or one that cannot record
        which = "the default input device" if device is None else f"input device {device!r}"
        raise DeviceError(f"cannot open {which} ({e}); input devices here: {input_devices(sd)}") from None
    try:
        with stream:
            yield blocks
    finally:
        if dropped[0]:
            log.warning("%.1f s of the microphone's audio were dropped: the recognizer fell more than %g s "
                        "behind", dropped[0] / sample_rate, max_blocks * block_ms / 1000)


def device_lines() -> list[str]:
    """The devices one can record from, one line each: index, name, input channels and default rate, the
    system's default marked with a star (``streamasr mic --list-devices``). Raises ``DeviceError`` where
    there is no PortAudio."""
    sd = _sounddevice()
    try:
        inputs, default = _inputs(sd), sd.default.device[0]
    except sd.PortAudioError as e:
        raise DeviceError(f"cannot list the audio devices: {e}") from None
    return [f"{'*' if i == default else ' '} {i} {d['name']} ({d['max_input_channels']} channels, "
            f"{d['default_samplerate']:g} Hz)" for i, d in inputs]


def input_devices(sd) -> str:
    """The devices ``sd`` (the sounddevice module) can record from, as "index name" pairs, for an error message."""
    try:
        found = [f"{i} {d['name']}" for i, d in _inputs(sd)]
    except sd.PortAudioError:
        found = []
    return ", ".join(found) or "none found"


def _sounddevice():
    """The sounddevice module, imported only where a command needs PortAudio; DeviceError where it is missing."""
    try:
        import sounddevice as sd
    except (OSError, ImportError) as e:  # the PortAudio library is missing
        raise DeviceError(f"no audio input: {e}") from None
    return sd


def _inputs(sd) -> list[tuple[int, dict]]:
    """(index, description) of each device ``sd`` (the sounddevice module) can record from."""
    return [(i, d) for i, d in enumerate(sd.query_devices()) if d["max_input_channels"] > 0]
