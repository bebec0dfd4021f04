"""The fixture the dataset tests share: the module's `site` folder (each test module builds its own, with the
files of the datasets it tests) served over HTTP on 127.0.0.1."""
import pytest

from support import StaticServer


@pytest.fixture(scope="module")
def server(site):
    s = StaticServer(site)
    yield s
    s.close()
