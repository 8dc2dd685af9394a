"""Echo server of the Tulip benchmark: an asyncio Protocol on the default event loop or
on uvloop, listening on 127.0.0.1:PORT until killed.

    python3 bench/echo_server.py --loop asyncio 4000
"""

import argparse
import asyncio


class Echo(asyncio.Protocol):
    """Writes every chunk back as it arrives (asyncio sets TCP_NODELAY itself)."""

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


async def serve(port):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("port", type=int)
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(serve(args.port))
    else:
        asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
