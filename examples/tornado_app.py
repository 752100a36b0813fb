"""realip in a Tornado app: ``request.remote_ip`` (and Tornado's access log) is the real client, ``self.realip`` the
full Result. ``RealIPHTTPServer`` takes the place of ``xheaders=True``.

Run from the repository root:

$ python -m examples.tornado_app --port 8000

then ``curl -H 'X-Forwarded-For: 198.51.100.7' http://127.0.0.1:8000/`` answers ``{"client": "198.51.100.7", ...}``.
Configuration comes from ``REALIP_*`` variables, e.g. ``REALIP_TRUSTED_PROXIES='10.0.0.0/8, cgnat'``; ``DEFAULTS``
below applies where they are unset.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os

from tornado.web import Application, RequestHandler

from realip import Resolver
from realip.tornado import RealIPHandlerMixin, RealIPHTTPServer

#: Used for variables the environment does not set: trust only this host's own proxy, read its scheme header.
DEFAULTS = {"REALIP_TRUSTED_PROXIES": "loopback", "REALIP_PROTO_HEADER": "x-forwarded-proto"}


class WhoAmI(RealIPHandlerMixin, RequestHandler):
    def get(self) -> None:
        result = self.realip
        assert result is not None
        self.write(
            {
                "client": self.request.remote_ip,
                "scheme": self.request.protocol,
                "source": result.source,
                "peer": result.peer,
            }
        )


async def main(port: int) -> None:
    logging.basicConfig(level=logging.INFO)  # Tornado's access log, showing the client
    server = RealIPHTTPServer(Application([(r"/", WhoAmI)]), resolver=Resolver.from_env({**DEFAULTS, **os.environ}))
    server.listen(port, "127.0.0.1")
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8000)
    asyncio.run(main(parser.parse_args().port))
