"""``pmmlkit serve``: online scoring over HTTP (TensorFlow Serving's REST API, the Open
Inference Protocol, CSV), with hot reload of new model versions. Needs ``pmmlkit[serve]``.

>>> from pmmlkit.server import create_app          # doctest: +SKIP
>>> app = create_app("models", poll=5)            # an ASGI app, e.g. for uvicorn
"""

from pmmlkit.server.app import create_app
from pmmlkit.server.core import ServerConfig
from pmmlkit.server.registry import VersionPolicy
from pmmlkit.server.serve import serve

__all__ = ["ServerConfig", "VersionPolicy", "create_app", "serve"]
