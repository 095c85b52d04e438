"""Endpoint rules, after Kaldi/WeNet/sherpa, in seconds.

Silence is judged from the CTC posteriors of the encoded frames: a frame is speech where the model is
unsure of a blank and one token is likely (``speech_frames``), not where its doubt is spread thin over many
tokens, as in noise. The audio after the last
encoded chunk (at most one chunk of it) may add to that silence when it is quiet, judged from
the level of its first difference (a high-pass that flattens hum and rumble, so the floor of
most noises is steady) in 10 ms blocks against the segment's own noise floor, so a pause is not made to wait
for the chunk that will cover it. The tail only ever ends a segment early; it never holds one open.
The same levels keep an utterance open through blank frames whose audio is clearly louder than that floor
and near the segment's loudest (``is_loud``), so the blank runs inside a BPE model's long pieces are not
taken for a pause, while the fading end of the last word (clean audio has a floor far below it) does not
hold the pause off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


SILENCE_RANGE_S = (0.1, 10.0)  # what a client may ask for as silence_after_speech_s


@dataclass(frozen=True)
class EndpointConfig:
    silence_after_speech_s: float = 0.4  # trailing silence that ends an utterance holding speech
    silence_no_speech_s: float = 5.0  # trailing silence that ends (and drops) a segment without speech
    max_utterance_s: float = 20.0  # an utterance is cut here whatever it holds
    blank_threshold: float = 0.9  # a frame is speech only where P(blank) is under this (``speech_frames``)
    speech_posterior: float = 0.3  # ... and some token (not blank) is at least this likely; noise spreads the model's
    # doubt over many tokens, none of them this likely (benchmarks/noise.py); chosen on dev streams and noise
    tail_floor_db: float = 6.0  # not-yet-encoded audio is silence while within this of the segment's floor (0: off)
    tail_snr_db: float = 20.0  # ... provided the segment's loudest block is this far above that floor
    hold_while_loud: bool = True  # audio clearly above that floor keeps an utterance with speech open (needs the tail rule)
    loud_range_db: float = 35.0  # ... if also within this of the segment's loudest block (a word's fading end is not held)
    start_quiet_db: float = -60.0  # before a stream's first sound, blocks below this level (dB re full scale) are quiet


def endpoint_cause(cfg: EndpointConfig, trailing_silence_s: float, utterance_s: float,
                   has_speech: bool) -> str | None:
    """Why the current segment ends now: ``"pause"`` (enough trailing silence), ``"length"`` (cut at
    ``max_utterance_s``, whatever is being said), or None while it goes on. A length cut is not a pause,
    so what follows it is not skipped as quiet (``SessionConfig.fresh_after_pause``).

    >>> cfg = EndpointConfig()
    >>> endpoint_cause(cfg, 0.6, 2.0, has_speech=True)    # a pause after speech
    'pause'
    >>> endpoint_cause(cfg, 0.3, 2.0, has_speech=True)    # a short pause between words: goes on
    >>> endpoint_cause(cfg, 3.0, 3.0, has_speech=False)   # silence only, not yet long enough: goes on
    >>> endpoint_cause(cfg, 0.0, 20.0, has_speech=True)   # too long, cut while speaking
    'length'
    >>> endpoint_cause(cfg, 5.0, 20.0, has_speech=False)  # too long counts first, silent or not
    'length'
    """
    if utterance_s >= cfg.max_utterance_s:
        return "length"
    if trailing_silence_s >= (cfg.silence_after_speech_s if has_speech else cfg.silence_no_speech_s):
        return "pause"
    return None


def speech_frames(cfg: EndpointConfig, log_probs: np.ndarray) -> np.ndarray:
    """Which frames of (T, V) CTC log-posteriors (blank first) hear speech -> (T,) bool: the model is not sure
    of a blank there, and one token is likely. Noise makes the model hesitate, its doubt spread thin over many
    tokens, none of them likely (a beam search with an LM would spell words out of that doubt): not speech.

    >>> p = np.array([[0.95, 0.05, 0.0], [0.6, 0.4, 0.0], [0.6, 0.2, 0.2], [0.1, 0.9, 0.0]])  # (T=4, V=3)
    >>> with np.errstate(divide="ignore"):
    ...     speech_frames(EndpointConfig(), np.log(p)).tolist()  # sure of a blank, a likely token, doubt, a spike
    [False, True, False, True]
    """
    unsure_of_blank = log_probs[:, 0] < math.log(cfg.blank_threshold)  # (T,)
    if cfg.speech_posterior <= 0:
        return unsure_of_blank
    return unsure_of_blank & (log_probs[:, 1:].max(axis=1, initial=-np.inf) >= math.log(cfg.speech_posterior))


def speech_span(cfg: EndpointConfig, log_probs: np.ndarray, margin: int) -> tuple[int, int]:
    """The frames of a whole segment's (T, V) log-posteriors that a search reads: from ``margin`` frames before
    the first frame that hears speech (``speech_frames``) to ``margin`` after the last, as (start, end); (0, 0)
    where none does. The noise before and after a segment's speech, searched with an LM, is spelt into words.

    >>> p = np.full((12, 3), [0.98, 0.01, 0.01])  # (T=12, V=3): sure of a blank, but at frames 5 and 7
    >>> p[5], p[7] = [0.1, 0.89, 0.01], [0.6, 0.01, 0.39]
    >>> speech_span(EndpointConfig(), np.log(p), margin=2), speech_span(EndpointConfig(), np.log(p[:5]), margin=2)
    ((3, 10), (0, 0))
    """
    heard = np.flatnonzero(speech_frames(cfg, log_probs))
    if len(heard) == 0:
        return 0, 0
    return max(0, int(heard[0]) - margin), min(len(log_probs), int(heard[-1]) + 1 + margin)


def is_tail_endpoint(cfg: EndpointConfig, encoded_silence_s: float, quiet_tail_s: float) -> bool:
    """Whether a pause after speech ends the segment before the encoder has seen all of it.

    ``encoded_silence_s``: trailing blank frames of a segment holding speech; ``quiet_tail_s``:
    the quiet audio received since the last encoded frame, every block of it quiet. The encoder
    must have begun to hear the pause (at least one blank frame): quiet alone is not enough.

    >>> cfg = EndpointConfig()
    >>> is_tail_endpoint(cfg, 0.28, 0.23)   # 0.28 s of blank frames, then 0.23 s of quiet audio
    True
    >>> is_tail_endpoint(cfg, 0.0, 0.6)     # the last encoded frame holds speech
    False
    >>> is_tail_endpoint(EndpointConfig(tail_floor_db=0), 0.28, 0.23)  # rule off
    False
    """
    if cfg.tail_floor_db <= 0 or encoded_silence_s <= 0:
        return False
    return encoded_silence_s + quiet_tail_s >= cfg.silence_after_speech_s


def level_decides(cfg: EndpointConfig, floor_db: float, peak_db: float) -> bool:
    """Whether a segment's speech stands far enough over its noise floor for levels to tell pause from sound.

    >>> level_decides(EndpointConfig(), -55.0, -12.0)   # a clear recording: 43 dB
    True
    >>> level_decides(EndpointConfig(), -32.0, -18.0)   # speech 14 dB over its noise: the blanks decide alone
    False
    """
    return peak_db - floor_db >= cfg.tail_snr_db


def is_quiet(cfg: EndpointConfig, level_db: float, floor_db: float, peak_db: float) -> bool:
    """Whether a block at ``level_db`` is quiet, in a segment whose quietest and loudest blocks are given.

    >>> cfg = EndpointConfig()
    >>> is_quiet(cfg, -52.0, -55.0, -12.0)   # at the noise floor of a clear recording: a pause
    True
    >>> is_quiet(cfg, -40.0, -55.0, -12.0)   # 15 dB over the floor: a soft consonant
    False
    >>> is_quiet(cfg, -30.0, -32.0, -18.0)   # speech barely above the noise: no judgement from level
    False
    """
    return level_decides(cfg, floor_db, peak_db) and level_db < floor_db + cfg.tail_floor_db


def is_loud(cfg: EndpointConfig, level_db: float, floor_db: float, peak_db: float) -> bool:
    """Whether a block is clearly sound, not pause: a frame of it is not silence, however blank the model
    is there (a BPE model emits a long piece in one frame and blanks for the rest of it).

    >>> cfg = EndpointConfig()
    >>> is_loud(cfg, -30.0, -55.0, -12.0)   # 25 dB over the floor of a clear recording
    True
    >>> is_loud(cfg, -52.0, -55.0, -12.0)   # at the floor: a pause
    False
    >>> is_loud(cfg, -20.0, -32.0, -18.0)   # too noisy to judge from level: the blanks decide
    False
    >>> is_loud(cfg, -60.0, -120.0, -12.0)  # a word fading out over digital silence, 48 dB under the loudest
    False
    """
    return (cfg.hold_while_loud and level_decides(cfg, floor_db, peak_db)
            and level_db >= floor_db + cfg.tail_floor_db and level_db >= peak_db - cfg.loud_range_db)


def block_levels(samples: np.ndarray, block: int = 160) -> np.ndarray:
    """Level in dB (re full scale 1.0) of each whole block (one feature hop) of (S,) samples: (S // block,).

    >>> block_levels(np.full(480, 0.1, dtype=np.float32)).round(1).tolist()
    [-20.0, -20.0, -20.0]
    >>> block_levels(np.zeros(100, dtype=np.float32)).shape
    (0,)
    """
    n = len(samples) // block
    blocks = samples[: n * block].astype(np.float64).reshape(n, block)  # (n, block)
    return 10 * np.log10(np.einsum("ij,ij->i", blocks, blocks) / block + 1e-12)
