"""daphne with permessage-deflate (RFC 7692) accepted, for `bench/load.py --deflate`.

daphne never sets autobahn's `perMessageCompressionAccept`, so it refuses every offer of
compression. This runs daphne's own command line with its WebSocketFactory replaced by a
subclass that accepts a permessage-deflate offer: no fork of daphne, one class swapped in
before the server starts. Same arguments as daphne:

    python bench/deflate_daphne.py -b 127.0.0.1 -p 8000 chatsite.asgi:application

DEFLATE_WINDOW_BITS (default 15) and DEFLATE_MEM_LEVEL (default 8) size each socket's
compressor: zlib keeps about 2^(bits+2) + 2^(mem+9) bytes per socket for it.
"""

from __future__ import annotations

import os
import sys

import daphne.server
from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateOfferAccept
from daphne.cli import CommandLineInterface
from daphne.ws_protocol import WebSocketFactory

WINDOW_BITS = int(os.environ.get("DEFLATE_WINDOW_BITS", "15"))
MEM_LEVEL = int(os.environ.get("DEFLATE_MEM_LEVEL", "8"))


def accept(offers):
    for offer in offers:
        if isinstance(offer, PerMessageDeflateOffer):
            window = WINDOW_BITS if offer.accept_max_window_bits else None
            return PerMessageDeflateOfferAccept(
                offer, window_bits=window, mem_level=MEM_LEVEL if window else None
            )
    return None


class DeflateFactory(WebSocketFactory):
    def setProtocolOptions(self, **options):  # autobahn's name
        super().setProtocolOptions(perMessageCompressionAccept=accept, **options)


daphne.server.WebSocketFactory = DeflateFactory

if __name__ == "__main__":
    sys.argv[0] = "daphne"
    CommandLineInterface.entrypoint()
