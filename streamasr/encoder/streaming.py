"""What a streaming encoder offers, whichever engine runs it (``ConformerEncoder``, ``OnnxEncoder``)."""

from __future__ import annotations

from typing import Protocol

import torch

from streamasr.encoder.conformer import EncoderConfig, EncoderState
from streamasr.encoder.onnx import OnnxState

StreamState = EncoderState | OnnxState  # one stream's caches, opaque to callers


class StreamingEncoder(Protocol):
    cfg: EncoderConfig

    def init_state(self, chunk: int, left_chunks: int) -> StreamState: ...

    def chunk_window(self, chunk: int) -> tuple[int, int]: ...  # (frames to feed, frames to advance)

    def forward_chunk(self, feats: torch.Tensor, state: StreamState) -> tuple[torch.Tensor, StreamState]:
        ...  # feats (1, 4n+3, F) -> log-probs (1, n, V)

    def forward_chunks(self, feats: torch.Tensor, states: list[StreamState]
                       ) -> tuple[torch.Tensor, list[StreamState]]:
        ...  # feats (B, 4n+3, F) -> log-probs (B, n, V)
