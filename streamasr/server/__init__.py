from streamasr.server.app import ServerConfig, serve

__all__ = ["ServerConfig", "serve"]
