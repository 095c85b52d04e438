"""wss:// with a certificate of our own, the browser Origin allow-list, and per-message compression."""

import asyncio
import ssl
import subprocess

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from streamasr.recognizer import Recognizer
from streamasr.server.app import ServerConfig
from tests_server_util import Running


def test_tls(tiny_model_dir, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    srv = Running(Recognizer.from_pretrained(tiny_model_dir, lm=None),
                  ServerConfig(port=0, certfile=str(cert), keyfile=str(key)))
    try:
        ctx = ssl.create_default_context(cafile=str(cert))

        async def main():
            async with connect(f"wss://127.0.0.1:{srv.port}/", ssl=ctx) as ws:
                await ws.send('{"type": "start", "sample_rate": 16000}')
                assert '"ready"' in await ws.recv()
            with pytest.raises(ssl.SSLCertVerificationError):  # an untrusted certificate is refused
                async with connect(f"wss://127.0.0.1:{srv.port}/", ssl=ssl.create_default_context()):
                    pass

        asyncio.run(main())
    finally:
        srv.stop()


def test_origin_allow_list(tiny_model_dir):
    srv = Running(Recognizer.from_pretrained(tiny_model_dir, lm=None),
                  ServerConfig(port=0, origins=("https://captions.example",)))
    try:
        async def main():
            with pytest.raises(InvalidStatus) as e:
                async with connect(srv.url(), origin="https://evil.example"):
                    pass
            assert e.value.response.status_code == 403
            for origin in ("https://captions.example", None):  # the allowed page, and a non-browser client
                async with connect(srv.url(), origin=origin) as ws:
                    await ws.send('{"type": "start", "sample_rate": 16000}')
                    assert '"ready"' in await ws.recv()

        asyncio.run(main())
    finally:
        srv.stop()


@pytest.mark.parametrize("enabled", [False, True])
def test_compression_is_negotiated_only_when_enabled(tiny_model_dir, enabled):
    srv = Running(Recognizer.from_pretrained(tiny_model_dir, lm=None), ServerConfig(port=0, compression=enabled))
    try:
        async def main():
            async with connect(srv.url()) as ws:  # the client offers permessage-deflate
                await ws.send('{"type": "start", "sample_rate": 16000}')
                assert '"ready"' in await ws.recv()
                return ws.response.headers.get("Sec-WebSocket-Extensions")

        ext = asyncio.run(main())
        assert (ext is not None and "permessage-deflate" in ext) == enabled
    finally:
        srv.stop()
