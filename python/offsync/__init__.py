"""offsync for Python: a ctypes binding of the C ABI (include/offsync/offsync.h).

Server and Client own their handles; close() them (or use ``with``). Records, reports, queries and
outboxes are plain Python values (JSON underneath). Errors raise OffsyncError with the C ABI's
code and message. Callbacks (live queries, the exchange) run on offsync's threads.
"""

import ctypes
import ctypes.util
import json
import os
import threading

__all__ = ["OffsyncError", "Server", "Client", "library"]

OK, INVALID_ARGUMENT, NOT_FOUND, CONFLICT, VALIDATION, TRANSIENT = 0, 1, 2, 3, 4, 5
KEEP_MINE, TAKE_SERVER, EDITED = 0, 1, 2


class OffsyncError(Exception):
    """A failed call: ``code`` is the C ABI's (offsync/status.h), ``message`` says what went wrong."""

    def __init__(self, code, message):
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message

    @property
    def transient(self):
        return self.code in (TRANSIENT, 11)


class _Error(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int32), ("message", ctypes.c_char * 512)]


class _ClientOptions(ctypes.Structure):
    _fields_ = [
        ("path", ctypes.c_char_p),
        ("server_url", ctypes.c_char_p),
        ("unix_socket", ctypes.c_char_p),
        ("in_process_server", ctypes.c_void_p),
        ("background", ctypes.c_bool),
        ("durability_normal", ctypes.c_bool),
        ("exchange", ctypes.c_void_p),
        ("exchange_context", ctypes.c_void_p),
    ]


EXCHANGE_FN = ctypes.CFUNCTYPE(
    ctypes.c_bool, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t,
    ctypes.POINTER(ctypes.POINTER(ctypes.c_uint8)), ctypes.POINTER(ctypes.c_size_t))
QUERY_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p)

_lib = None
_lib_lock = threading.Lock()


def library():
    """The loaded liboffsync.so: $OFFSYNC_LIBRARY, else the system's library path."""
    global _lib
    with _lib_lock:
        if _lib is None:
            path = os.environ.get("OFFSYNC_LIBRARY") or ctypes.util.find_library("offsync")
            if not path:
                raise OSError("liboffsync.so not found: set OFFSYNC_LIBRARY to its path")
            lib = ctypes.CDLL(path)
            _declare(lib)
            _lib = lib
        return _lib


def _declare(lib):
    E = ctypes.POINTER(_Error)
    owned = ctypes.c_void_p  # char* the caller frees: kept as a pointer, read, then freed
    sigs = {
        "offsync_string_free": (None, [ctypes.c_void_p]),
        "offsync_server_open": (ctypes.c_void_p, [ctypes.c_char_p, E]),
        "offsync_server_free": (None, [ctypes.c_void_p]),
        "offsync_server_handle_bytes": (owned, [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t,
                                                ctypes.POINTER(ctypes.c_size_t)]),
        "offsync_server_stats": (owned, [ctypes.c_void_p, E]),
        "offsync_client_open": (ctypes.c_void_p, [ctypes.POINTER(_ClientOptions), E]),
        "offsync_client_free": (None, [ctypes.c_void_p]),
        "offsync_client_put": (owned, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, E]),
        "offsync_client_patch": (owned, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, E]),
        "offsync_client_remove": (owned, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, E]),
        "offsync_client_get": (owned, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, E]),
        "offsync_client_outbox": (owned, [ctypes.c_void_p, E]),
        "offsync_client_sync": (owned, [ctypes.c_void_p, E]),
        "offsync_client_wait_until_synced": (ctypes.c_bool, [ctypes.c_void_p, ctypes.c_int64, E]),
        "offsync_client_discard": (ctypes.c_bool, [ctypes.c_void_p, ctypes.c_char_p, E]),
        "offsync_client_resolve": (ctypes.c_bool, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, E]),
        "offsync_client_sign_in": (ctypes.c_bool, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, E]),
        "offsync_client_sign_out": (ctypes.c_int64, [ctypes.c_void_p, E]),
        "offsync_client_query": (owned, [ctypes.c_void_p, ctypes.c_char_p, E]),
        "offsync_client_count": (ctypes.c_int64, [ctypes.c_void_p, ctypes.c_char_p, E]),
        "offsync_client_watch": (ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_char_p, QUERY_FN, ctypes.c_void_p, E]),
        "offsync_observer_remove": (None, [ctypes.c_void_p]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args


def _call(fn, *args):
    """Calls fn with an error out-parameter; raises OffsyncError when it failed."""
    err = _Error()
    result = fn(*args, ctypes.byref(err))
    if err.code != OK:
        raise OffsyncError(err.code, err.message.decode("utf-8", "replace"))
    return result


def _text(pointer):
    """A char* the caller owns, as str (freed)."""
    if not pointer:
        return None
    try:
        return ctypes.string_at(pointer).decode("utf-8")
    finally:
        library().offsync_string_free(pointer)


def _b(text):
    return None if text is None else text.encode("utf-8")


class Server:
    """The server half in this process (SQLite store)."""

    def __init__(self, handle):
        self._handle = handle

    @classmethod
    def open(cls, db_path):
        return cls(_call(library().offsync_server_open, _b(str(db_path))))

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
        return json.loads(_text(_call(library().offsync_server_stats, self._handle)))

    def close(self):
        if self._handle:
            library().offsync_server_free(self._handle)
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Watch:
    def __init__(self, handle, keep):
        self._handle = handle
        self._keep = keep  # the ctypes callback must live as long as the watch

    def remove(self):
        if self._handle:
            library().offsync_observer_remove(self._handle)
            self._handle = None


class Client:
    """A client store (optimistic view + outbox) and its sync.

    Sync goes to an in-process ``server``, to ``server_url`` over HTTP, or through ``exchange``: a
    callable taking request bytes and returning response bytes (None: the provider is
    unreachable), as an IPC shim would.
    """

    def __init__(self, handle, keep):
        self._handle = handle
        self._keep = keep
        self._watches = []

    @classmethod
    def open(cls, path, server=None, server_url=None, exchange=None, background=False, durability_normal=True):
        options = _ClientOptions()
        options.path = _b(str(path))
        options.server_url = _b(server_url)
        options.in_process_server = server._handle if server is not None else None
        options.background = background
        options.durability_normal = durability_normal
        keep = None
        if exchange is not None:
            libc = ctypes.CDLL(None)
            libc.malloc.restype = ctypes.c_void_p
            libc.malloc.argtypes = [ctypes.c_size_t]

            def carry(_context, request, size, response, response_size):
                try:
                    answer = exchange(ctypes.string_at(request, size))
                except Exception:  # an exception must not cross into C
                    return False
                if answer is None:
                    return False
                memory = libc.malloc(max(len(answer), 1))
                ctypes.memmove(memory, answer, len(answer))
                response[0] = ctypes.cast(memory, ctypes.POINTER(ctypes.c_uint8))
                response_size[0] = len(answer)
                return True

            keep = EXCHANGE_FN(carry)
            options.exchange = ctypes.cast(keep, ctypes.c_void_p)
        return cls(_call(library().offsync_client_open, ctypes.byref(options)), keep)

    # ---- writes and reads ----
    def put(self, collection, record_id, fields):
        return _text(_call(library().offsync_client_put, self._handle, _b(collection), _b(record_id),
                           _b(json.dumps(fields))))

    def patch(self, collection, record_id, merge_patch):
        return _text(_call(library().offsync_client_patch, self._handle, _b(collection), _b(record_id),
                           _b(json.dumps(merge_patch))))

    def remove(self, collection, record_id):
        return _text(_call(library().offsync_client_remove, self._handle, _b(collection), _b(record_id)))

    def get(self, collection, record_id):
        """The record's fields, or None when there is no such record."""
        try:
            return json.loads(_text(_call(library().offsync_client_get, self._handle, _b(collection), _b(record_id))))
        except OffsyncError as e:
            if e.code == NOT_FOUND:
                return None
            raise

    def query(self, collection, where=(), order=(), limit=0):
        """Records as [{"id", "fields"}]; ``where`` and ``order`` as in offsync.h's query JSON."""
        spec = {"collection": collection, "where": list(where), "order": list(order), "limit": limit}
        return json.loads(_text(_call(library().offsync_client_query, self._handle, _b(json.dumps(spec)))))

    def count(self, collection, where=()):
        spec = {"collection": collection, "where": list(where)}
        return _call(library().offsync_client_count, self._handle, _b(json.dumps(spec)))

    def watch(self, callback, collection, where=(), order=(), limit=0):
        """Calls callback(result, change) on offsync's notifier thread after each change of the
        result (the first result too). Returns a handle with remove()."""
        spec = {"collection": collection, "where": list(where), "order": list(order), "limit": limit}

        def heard(_context, result, change):
            try:
                callback(json.loads(result), json.loads(change))
            except Exception:
                pass  # an exception must not cross into C

        keep = QUERY_FN(heard)
        handle = _call(library().offsync_client_watch, self._handle, _b(json.dumps(spec)), keep, None)
        w = _Watch(handle, keep)
        self._watches.append(w)
        return w

    # ---- the outbox and sync ----
    def outbox(self):
        return json.loads(_text(_call(library().offsync_client_outbox, self._handle)))

    def sync(self):
        """One push and pull round; its report (a dict)."""
        return json.loads(_text(_call(library().offsync_client_sync, self._handle)))

    def wait_until_synced(self, timeout_ms):
        _call(library().offsync_client_wait_until_synced, self._handle, timeout_ms)

    def discard(self, mutation_id):
        _call(library().offsync_client_discard, self._handle, _b(mutation_id))

    def resolve(self, mutation_id, resolution, edited=None):
        _call(library().offsync_client_resolve, self._handle, _b(mutation_id), resolution,
              _b(json.dumps(edited)) if edited is not None else None)

    def sign_in(self, user, access_token, refresh_token=None):
        _call(library().offsync_client_sign_in, self._handle, _b(user), _b(access_token), _b(refresh_token))

    def sign_out(self):
        return _call(library().offsync_client_sign_out, self._handle)

    def close(self):
        for w in self._watches:
            w.remove()
        self._watches = []
        if self._handle:
            library().offsync_client_free(self._handle)
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
