"""The C ABI (include/offsync/offsync.h) as ctypes declarations: the library, its structs, its
function signatures, and the conventions every call shares (errors, owned strings)."""

import ctypes
import ctypes.util
import os
import threading

OK, INVALID_ARGUMENT, NOT_FOUND, CONFLICT, VALIDATION, TRANSIENT = 0, 1, 2, 3, 4, 5
DEADLINE_EXCEEDED = 11


class OffsyncError(Exception):
    """A failed call: ``code`` is the C ABI's (offsync/status.h), ``message`` says what went wrong."""

    def __init__(self, code, message):
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message

    @property
    def transient(self):
        return self.code in (TRANSIENT, DEADLINE_EXCEEDED)


class Error(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int32), ("message", ctypes.c_char * 512)]


EXCHANGE_FN = ctypes.CFUNCTYPE(
    ctypes.c_bool, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t,
    ctypes.POINTER(ctypes.POINTER(ctypes.c_uint8)), ctypes.POINTER(ctypes.c_size_t))
CANCEL_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
QUERY_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p)
STATE_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p)
TEXT_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p)
PROGRESS_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int64, ctypes.c_int64)


class ServerOptions(ctypes.Structure):
    _fields_ = [
        ("db_path", ctypes.c_char_p),
        ("postgres", ctypes.c_char_p),
        ("schema_json", ctypes.c_char_p),
        ("attachments_dir", ctypes.c_char_p),
        ("require_auth", ctypes.c_bool),
        ("durability_normal", ctypes.c_bool),
        ("upstream_url", ctypes.c_char_p),
        ("upstream_token", ctypes.c_char_p),
        ("upstream_db_path", ctypes.c_char_p),
    ]


class ClientOptions(ctypes.Structure):
    _fields_ = [
        ("path", ctypes.c_char_p),
        ("server_url", ctypes.c_char_p),
        ("unix_socket", ctypes.c_char_p),
        ("in_process_server", ctypes.c_void_p),
        ("background", ctypes.c_bool),
        ("durability_normal", ctypes.c_bool),
        ("exchange", ctypes.c_void_p),
        ("exchange_context", ctypes.c_void_p),
        ("watch_exchange", ctypes.c_void_p),
        ("watch_context", ctypes.c_void_p),
        ("watch_cancel", ctypes.c_void_p),
        ("watch_wait_s", ctypes.c_int32),
    ]


class SyncCallbacks(ctypes.Structure):
    _fields_ = [
        ("context", ctypes.c_void_p),
        ("on_state", STATE_FN),
        ("on_rejected", TEXT_FN),
        ("on_conflict", TEXT_FN),
        ("on_view_changed", TEXT_FN),
        ("on_progress", PROGRESS_FN),
    ]


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
    E = ctypes.POINTER(Error)
    p, s, owned = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p  # owned: a char* the caller frees
    bytes_in = [p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t]
    sigs = {
        "offsync_string_free": (None, [p]),
        "offsync_server_open_with": (p, [ctypes.POINTER(ServerOptions), E]),
        "offsync_server_free": (None, [p]),
        "offsync_server_handle_bytes": (owned, bytes_in + [ctypes.POINTER(ctypes.c_size_t)]),
        "offsync_server_stats": (owned, [p, E]),
        "offsync_server_listen": (p, [p, s, E]),
        "offsync_listener_address": (owned, [p]),
        "offsync_listener_free": (None, [p]),
        "offsync_client_open": (p, [ctypes.POINTER(ClientOptions), E]),
        "offsync_client_free": (None, [p]),
        "offsync_client_put": (owned, [p, s, s, s, E]),
        "offsync_client_put_attached": (owned, [p, s, s, s, s, E]),
        "offsync_client_patch": (owned, [p, s, s, s, E]),
        "offsync_client_remove": (owned, [p, s, s, E]),
        "offsync_client_get": (owned, [p, s, s, E]),
        "offsync_client_outbox": (owned, [p, E]),
        "offsync_client_sync": (owned, [p, E]),
        "offsync_client_wait_until_synced": (ctypes.c_bool, [p, ctypes.c_int64, E]),
        "offsync_client_sync_now": (None, [p]),
        "offsync_client_set_connectivity": (ctypes.c_bool, [p, ctypes.c_int, E]),
        "offsync_client_set_token": (ctypes.c_bool, [p, s, E]),
        "offsync_client_status": (owned, [p, E]),
        "offsync_client_discard": (ctypes.c_bool, [p, s, E]),
        "offsync_client_resolve": (ctypes.c_bool, [p, s, ctypes.c_int, s, E]),
        "offsync_client_sign_in": (ctypes.c_bool, [p, s, s, s, E]),
        "offsync_client_sign_out": (ctypes.c_int64, [p, E]),
        "offsync_client_add_attachment_file": (owned, [p, s, s, E]),
        "offsync_client_attachment": (owned, [p, s, E]),
        "offsync_client_download_attachment": (ctypes.c_bool, [p, s, E]),
        "offsync_client_export_attachment": (ctypes.c_bool, [p, s, s, E]),
        "offsync_client_query": (owned, [p, s, E]),
        "offsync_client_count": (ctypes.c_int64, [p, s, E]),
        "offsync_client_watch": (p, [p, s, QUERY_FN, p, E]),
        "offsync_client_add_sync_observer": (p, [p, ctypes.POINTER(SyncCallbacks), E]),
        "offsync_observer_remove": (None, [p]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args


def call(fn, *args):
    """Calls fn with an error out-parameter; raises OffsyncError when it failed."""
    err = Error()
    result = fn(*args, ctypes.byref(err))
    if err.code != OK:
        raise OffsyncError(err.code, err.message.decode("utf-8", "replace"))
    return result


def text(pointer):
    """A char* the caller owns, as str (freed)."""
    if not pointer:
        return None
    try:
        return ctypes.string_at(pointer).decode("utf-8")
    finally:
        library().offsync_string_free(pointer)


def b(value):
    """A str (or path) as the C ABI's UTF-8 char*; None stays NULL."""
    return None if value is None else str(value).encode("utf-8")


class Closing:
    """An object that owns a handle: close() frees it (twice is harmless), and so does ``with``."""

    def close(self):
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def guard(callback, failure=None):
    """A Python callback made safe to call from C: an exception must not cross into C."""

    def safe(*args):
        try:
            return callback(*args)
        except Exception:  # noqa: BLE001 - reported as the failure value, never raised into C
            return failure

    return safe
