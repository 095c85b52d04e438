"""A real server on a loopback port, in a thread, for tests."""

import asyncio
import threading

from streamasr.server.app import Server, ServerConfig
from streamasr.recognizer import Recognizer


class Running:
    """A real server on a loopback port, in a thread of its own."""

    def __init__(self, rec: Recognizer, cfg: ServerConfig):
        self.server = Server(rec, cfg)
        self.loop = asyncio.new_event_loop()
        ready = self.loop.create_future()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        self.port = self._port(ready)

    def _run(self, ready):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.run(ready.set_result))

    def _port(self, ready) -> int:
        import time

        for _ in range(600):
            if ready.done():
                return ready.result()
            time.sleep(0.05)
        raise TimeoutError("server did not start")

    def url(self, path: str = "/") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def stop(self):
        self.loop.call_soon_threadsafe(self.server.stopping.set)
        self.thread.join(timeout=30)
