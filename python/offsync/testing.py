"""Helpers that make a headless sync test short: a network to a server that can go offline (or
lose answers), and reopening a client as an app restart would.
"""

import threading

from . import Client, Server

__all__ = ["Network", "reopen", "server"]


class Network:
    """The pipe between clients and a server in this process, carrying the same bytes as IPC.

    offline(): every request fails (the provider cannot be reached). lose_answers(): the server
    applies each POST but the client never hears back, as with a timeout after sending (other
    requests are answered).
    """

    def __init__(self, server: Server):
        self._server = server
        self._lock = threading.Lock()
        self._online = True
        self._lose_answers = False
        self.requests = 0

    def offline(self):
        with self._lock:
            self._online = False

    def online(self):
        with self._lock:
            self._online = True
            self._lose_answers = False

    def lose_answers(self):
        with self._lock:
            self._lose_answers = True

    def __call__(self, request: bytes):
        with self._lock:
            online, lose = self._online, self._lose_answers
            self.requests += 1
        if not online:
            return None
        answer = self._server.handle_bytes(request)
        return None if lose and request.startswith(b"POST ") else answer


def server(path):
    """A server in this process, with its own store file."""
    return Server.open(path)


def reopen(client: Client, path, **options):
    """Closes a client and opens its store again: what the app sees after a restart."""
    client.close()
    return Client.open(path, **options)
