from streamasr.server.config import ServerConfig
from streamasr.server.launch import serve

__all__ = ["ServerConfig", "serve"]
