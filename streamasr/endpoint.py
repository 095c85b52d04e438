"""Endpoint rules, after Kaldi/WeNet/sherpa, in seconds; silence is judged from CTC blank posteriors."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EndpointConfig:
    silence_after_speech_s: float = 0.5  # trailing silence that ends an utterance holding speech
    silence_no_speech_s: float = 5.0  # trailing silence that ends (and drops) a segment without speech
    max_utterance_s: float = 20.0  # an utterance is cut here whatever it holds
    blank_threshold: float = 0.9  # a frame counts as silence when P(blank) is at least this


def is_endpoint(cfg: EndpointConfig, trailing_silence_s: float, utterance_s: float, has_speech: bool) -> bool:
    """Whether the current segment ends now.

    >>> cfg = EndpointConfig()
    >>> is_endpoint(cfg, 0.6, 2.0, has_speech=True)   # a pause after speech
    True
    >>> is_endpoint(cfg, 0.3, 2.0, has_speech=True)   # a short pause between words
    False
    >>> is_endpoint(cfg, 3.0, 3.0, has_speech=False)  # silence only, not yet long enough
    False
    >>> is_endpoint(cfg, 0.0, 20.0, has_speech=True)  # too long, cut while speaking
    True
    """
    if utterance_s >= cfg.max_utterance_s:
        return True
    if has_speech:
        return trailing_silence_s >= cfg.silence_after_speech_s
    return trailing_silence_s >= cfg.silence_no_speech_s
