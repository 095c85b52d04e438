"""Streaming log-mel features.

Frames are computed without centring (``center=False``), so every frame depends
only on its own 25 ms of samples. Feeding a stream in pieces and carrying the
leftover samples therefore gives exactly the frames of the whole signal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torchaudio


@dataclass(frozen=True)
class FeatureConfig:
    sample_rate: int = 16000  # Hz; audio is resampled to this before features
    n_mels: int = 80  # mel bins per frame
    win_ms: float = 25.0  # analysis window length
    hop_ms: float = 10.0  # frame shift
    n_fft: int = 512  # FFT size (>= window length in samples)
    log_floor: float = 1e-6  # added before the log to keep silence finite

    @property
    def win_length(self) -> int:
        return int(round(self.sample_rate * self.win_ms / 1000))

    @property
    def frame_length(self) -> int:
        """Samples under one frame: the STFT spans n_fft samples, the window centred inside."""
        return max(self.n_fft, self.win_length)

    @property
    def hop_length(self) -> int:
        return int(round(self.sample_rate * self.hop_ms / 1000))


def num_frames(num_samples: int, cfg: FeatureConfig) -> int:
    """Frames that fit in ``num_samples`` without padding.

    >>> num_frames(512, FeatureConfig()), num_frames(672, FeatureConfig()), num_frames(511, FeatureConfig())
    (1, 2, 0)
    """
    if num_samples < cfg.frame_length:
        return 0
    return 1 + (num_samples - cfg.frame_length) // cfg.hop_length


class LogMel(torch.nn.Module):
    """Stateless log-mel extractor: (..., S) samples -> (..., T, n_mels) frames."""

    def __init__(self, cfg: FeatureConfig):
        super().__init__()
        self.cfg = cfg
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=cfg.sample_rate,
            n_fft=cfg.n_fft,
            win_length=cfg.win_length,
            hop_length=cfg.hop_length,
            n_mels=cfg.n_mels,
            center=False,
            power=2.0,
        )

    def forward(self, samples: torch.Tensor) -> torch.Tensor:
        # samples: (..., S) float in [-1, 1]
        n = num_frames(samples.shape[-1], self.cfg)
        if n == 0:
            return samples.new_zeros(*samples.shape[:-1], 0, self.cfg.n_mels)
        used = samples[..., : self.cfg.frame_length + (n - 1) * self.cfg.hop_length]
        spec = self.mel(used)  # (..., n_mels, T)
        return torch.log(spec + self.cfg.log_floor).transpose(-1, -2)  # (..., T, n_mels)


@dataclass
class FeatureState:
    """Samples received but not yet consumed by a whole frame."""

    leftover: torch.Tensor = field(default_factory=lambda: torch.zeros(0))  # (S,)


class StreamingLogMel:
    """Incremental log-mel: ``frames, state = fe.accept(samples, state)``."""

    def __init__(self, cfg: FeatureConfig):
        self.cfg = cfg
        self.logmel = LogMel(cfg)

    @torch.no_grad()
    def accept(self, samples: torch.Tensor, state: FeatureState) -> tuple[torch.Tensor, FeatureState]:
        # samples: (S,) float32 mono at cfg.sample_rate
        buf = torch.cat([state.leftover, samples.to(torch.float32)])  # (S',)
        n = num_frames(buf.numel(), self.cfg)
        frames = self.logmel(buf)  # (n, n_mels)
        consumed = n * self.cfg.hop_length
        return frames, FeatureState(leftover=buf[consumed:].clone())
