"""The server half in this process: a store, its byte handler, listeners, and a relay to a cloud."""

import ctypes
import json

from ._native import Closing, ServerOptions, b, call, library, text


class Listener(Closing):
    """The server served over HTTP/1.1 on its own threads until close(): ``address`` is
    "http://127.0.0.1:PORT" or "unix:PATH"."""

    def __init__(self, handle):
        self._handle = handle
        self.address = text(library().offsync_listener_address(handle))

    @property
    def url(self):
        """What a client's server_url is: the http address, or "http://localhost" for a socket."""
        return "http://localhost" if self.address.startswith("unix:") else self.address

    @property
    def unix_socket(self):
        return self.address[len("unix:"):] if self.address.startswith("unix:") else None

    def close(self):
        if self._handle:
            library().offsync_listener_free(self._handle)
            self._handle = None


class Server(Closing):
    """The server half in this process.

    ``schema`` (a dict, docs/merge-policies.md) sets merge policies and required fields;
    ``upstream_url`` makes it a relay that syncs what its clients write with that cloud server
    (its own client store: ``upstream_db``, default the db file + ".upstream");
    ``postgres`` (a libpq connection string) replaces the SQLite file.
    """

    def __init__(self, handle):
        self._handle = handle
        self._listeners = []

    @classmethod
    def open(cls, db_path=None, schema=None, upstream_url=None, upstream_token=None, upstream_db=None,
             attachments_dir=None, postgres=None, require_auth=False, durability_normal=True):
        options = ServerOptions()
        options.db_path = b(db_path)
        options.postgres = b(postgres)
        options.schema_json = b(json.dumps(schema)) if schema is not None else None
        options.attachments_dir = b(attachments_dir)
        options.require_auth = require_auth
        options.durability_normal = durability_normal
        options.upstream_url = b(upstream_url)
        options.upstream_token = b(upstream_token)
        options.upstream_db_path = b(upstream_db)
        return cls(call(library().offsync_server_open_with, ctypes.byref(options)))

    def listen(self, address="tcp:127.0.0.1:0"):
        """Serves over "tcp:HOST:PORT" (port 0: any free one) or "unix:PATH"; a Listener."""
        listener = Listener(call(library().offsync_server_listen, self._handle, b(address)))
        self._listeners.append(listener)
        return listener

    def handle_bytes(self, request: bytes) -> bytes:
        """One serialized HTTP/1.1 request in, its serialized response out (the IPC byte handler)."""
        size = ctypes.c_size_t(0)
        buf = (ctypes.c_uint8 * len(request)).from_buffer_copy(request)
        pointer = library().offsync_server_handle_bytes(self._handle, buf, len(request), ctypes.byref(size))
        try:
            return ctypes.string_at(pointer, size.value)
        finally:
            library().offsync_string_free(pointer)

    def stats(self):
        """The server's figures: mutations_applied, replays, changes, ..."""
        return json.loads(text(call(library().offsync_server_stats, self._handle)))

    def close(self):
        for listener in self._listeners:
            listener.close()
        self._listeners = []
        if self._handle:
            library().offsync_server_free(self._handle)
            self._handle = None
