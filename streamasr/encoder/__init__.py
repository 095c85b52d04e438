from streamasr.encoder.conformer import ConformerEncoder, EncoderConfig, EncoderState
from streamasr.encoder.masks import chunk_mask

__all__ = ["ConformerEncoder", "EncoderConfig", "EncoderState", "chunk_mask"]
