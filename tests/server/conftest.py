import pytest

from streamasr.recognizer import Recognizer
from streamasr.server.app import ServerConfig
from tests_server_util import Running


@pytest.fixture(scope="module")
def tiny_server(tiny_model_dir):
    srv = Running(Recognizer.from_pretrained(tiny_model_dir, lm=None),
                  ServerConfig(port=0, max_sessions=8, idle_timeout_s=2.0, max_message_bytes=1 << 20))
    yield srv
    srv.stop()
