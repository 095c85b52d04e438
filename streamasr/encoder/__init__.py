from streamasr.encoder.conformer import ConformerEncoder, EncoderConfig, EncoderState
from streamasr.encoder.masks import chunk_mask
from streamasr.encoder.streaming import StreamingEncoder, StreamState

__all__ = ["ConformerEncoder", "EncoderConfig", "EncoderState", "StreamState", "StreamingEncoder", "chunk_mask"]
