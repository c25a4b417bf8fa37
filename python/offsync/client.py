"""A client store (optimistic view + outbox), its sync, queries, live queries and attachments."""

import ctypes
import json

from ._native import (EXCHANGE_FN, NOT_FOUND, PROGRESS_FN, QUERY_FN, STATE_FN, TEXT_FN, ClientOptions, Closing,
                      OffsyncError, SyncCallbacks, b, call, guard, library, text)

KEEP_MINE, TAKE_SERVER, EDITED = 0, 1, 2
_CONNECTIVITY = {"online": 0, "offline": 1, "metered": 2}

_malloc = None


def _c_malloc(size):
    """Memory offsync frees with free(): the exchange callback's answer."""
    global _malloc
    if _malloc is None:
        libc = ctypes.CDLL(None)
        libc.malloc.restype = ctypes.c_void_p
        libc.malloc.argtypes = [ctypes.c_size_t]
        _malloc = libc.malloc
    return _malloc(max(size, 1))


def _exchange_callback(exchange):
    """The C callback over ``exchange(request_bytes) -> response_bytes or None``."""

    def carry(_context, request, size, response, response_size):
        answer = exchange(ctypes.string_at(request, size))
        if answer is None:
            return False
        memory = _c_malloc(len(answer))
        ctypes.memmove(memory, answer, len(answer))
        response[0] = ctypes.cast(memory, ctypes.POINTER(ctypes.c_uint8))
        response_size[0] = len(answer)
        return True

    return EXCHANGE_FN(guard(carry, False))


class _Observer:
    def __init__(self, handle, keep):
        self._handle = handle
        self._keep = keep  # the ctypes callbacks must live as long as the observer

    def remove(self):
        if self._handle:
            library().offsync_observer_remove(self._handle)
            self._handle = None


def _query_json(collection, where=(), order=(), limit=0):
    return b(json.dumps({"collection": collection, "where": list(where), "order": list(order), "limit": limit}))


class Client(Closing):
    """A client store and its sync.

    Sync goes to an in-process ``server``, to ``server_url`` over HTTP (``unix_socket``: through
    that socket), or through ``exchange``: a callable taking request bytes and returning response
    bytes (None: the provider is unreachable), as an IPC shim would. With ``background`` a worker
    thread syncs after each write, retries with backoff, and (over a server_url or server) keeps a
    long poll open so other devices' changes arrive without polling.
    """

    def __init__(self, handle, keep):
        self._handle = handle
        self._keep = keep
        self._observers = []

    @classmethod
    def open(cls, path, server=None, server_url=None, unix_socket=None, exchange=None, background=False,
             durability_normal=True, watch_wait_s=0):
        options = ClientOptions()
        options.path = b(path)
        options.server_url = b(server_url)
        options.unix_socket = b(unix_socket)
        options.in_process_server = server._handle if server is not None else None
        options.background = background
        options.durability_normal = durability_normal
        options.watch_wait_s = watch_wait_s
        keep = None
        if exchange is not None:
            keep = _exchange_callback(exchange)
            options.exchange = ctypes.cast(keep, ctypes.c_void_p)
        return cls(call(library().offsync_client_open, ctypes.byref(options)), keep)

    # ---- writes and reads ----
    def put(self, collection, record_id, fields, attachments=None):
        """Writes a whole record; ``attachments``: ids from add_attachment_file() it lists (they
        upload before the write). Returns the outbox mutation's id."""
        if attachments is None:
            return text(call(library().offsync_client_put, self._handle, b(collection), b(record_id),
                             b(json.dumps(fields))))
        return text(call(library().offsync_client_put_attached, self._handle, b(collection), b(record_id),
                         b(json.dumps(fields)), b(json.dumps(list(attachments)))))

    def patch(self, collection, record_id, merge_patch):
        return text(call(library().offsync_client_patch, self._handle, b(collection), b(record_id),
                         b(json.dumps(merge_patch))))

    def remove(self, collection, record_id):
        return text(call(library().offsync_client_remove, self._handle, b(collection), b(record_id)))

    def get(self, collection, record_id):
        """The record's fields, or None when there is no such record."""
        try:
            return json.loads(text(call(library().offsync_client_get, self._handle, b(collection), b(record_id))))
        except OffsyncError as e:
            if e.code == NOT_FOUND:
                return None
            raise

    def query(self, collection, where=(), order=(), limit=0):
        """Records as [{"id", "fields"}]; ``where`` and ``order`` as in offsync.h's query JSON."""
        return json.loads(text(call(library().offsync_client_query, self._handle,
                                    _query_json(collection, where, order, limit))))

    def count(self, collection, where=()):
        return call(library().offsync_client_count, self._handle, _query_json(collection, where))

    def watch(self, callback, collection, where=(), order=(), limit=0):
        """Calls callback(result, change) on offsync's notifier thread after each change of the
        result (the first result too). Returns a handle with remove()."""
        keep = QUERY_FN(guard(lambda _c, result, change: callback(json.loads(result), json.loads(change))))
        handle = call(library().offsync_client_watch, self._handle, _query_json(collection, where, order, limit),
                      keep, None)
        return self._keep_observer(handle, keep)

    def observe(self, on_state=None, on_rejected=None, on_conflict=None, on_progress=None):
        """The sync worker's news: on_state(state, reason), on_rejected(mutation) (the server
        refused it: mutation["last_error"] says why), on_conflict(mutation), on_progress(step,
        done, total) ("push", "pull" or "refresh"). Called on the thread that syncs. Returns a
        handle with remove()."""
        callbacks = SyncCallbacks()
        if on_state:
            callbacks.on_state = STATE_FN(guard(lambda _c, s, r: on_state(s.decode(), r.decode())))
        if on_rejected:
            callbacks.on_rejected = TEXT_FN(guard(lambda _c, m: on_rejected(json.loads(m))))
        if on_conflict:
            callbacks.on_conflict = TEXT_FN(guard(lambda _c, m: on_conflict(json.loads(m))))
        if on_progress:
            callbacks.on_progress = PROGRESS_FN(
                guard(lambda _c, step, done, total: on_progress(step.decode(), done, total)))
        handle = call(library().offsync_client_add_sync_observer, self._handle, ctypes.byref(callbacks))
        return self._keep_observer(handle, callbacks)

    def _keep_observer(self, handle, keep):
        observer = _Observer(handle, keep)
        self._observers.append(observer)
        return observer

    # ---- attachments ----
    def add_attachment_file(self, path, content_type):
        """Copies a file into the store, read a chunk at a time; its attachment id."""
        return text(call(library().offsync_client_add_attachment_file, self._handle, b(path), b(content_type)))

    def attachment(self, attachment_id):
        """{"id", "size", "sha256", "content_type", "state", "local_bytes", "sent_bytes", "last_error"}."""
        return json.loads(text(call(library().offsync_client_attachment, self._handle, b(attachment_id))))

    def download_attachment(self, attachment_id):
        """Fetches an attachment a server record lists (resumable, SHA-256 checked)."""
        call(library().offsync_client_download_attachment, self._handle, b(attachment_id))

    def export_attachment(self, attachment_id, path):
        """Writes a readable attachment's bytes to a file."""
        call(library().offsync_client_export_attachment, self._handle, b(attachment_id), b(path))

    # ---- the outbox and sync ----
    def outbox(self):
        return json.loads(text(call(library().offsync_client_outbox, self._handle)))

    def sync(self):
        """One push and pull round; its report (a dict)."""
        return json.loads(text(call(library().offsync_client_sync, self._handle)))

    def sync_now(self):
        """Wakes the background worker for a round now; returns at once."""
        library().offsync_client_sync_now(self._handle)

    def set_connectivity(self, connectivity):
        """"online", "offline" or "metered", as the platform reports it; online wakes the worker."""
        if connectivity not in _CONNECTIVITY:
            raise ValueError(f"connectivity is one of {sorted(_CONNECTIVITY)}, not {connectivity!r}")
        call(library().offsync_client_set_connectivity, self._handle, _CONNECTIVITY[connectivity])

    def set_token(self, token):
        """A new bearer token (after a 401 paused the queue)."""
        call(library().offsync_client_set_token, self._handle, b(token))

    def status(self):
        """{"state", "reason", "next_attempt_at_ms", "pending", "rejected", "conflicts", ...}."""
        return json.loads(text(call(library().offsync_client_status, self._handle)))

    def wait_until_synced(self, timeout_ms):
        call(library().offsync_client_wait_until_synced, self._handle, timeout_ms)

    def discard(self, mutation_id):
        call(library().offsync_client_discard, self._handle, b(mutation_id))

    def resolve(self, mutation_id, resolution, edited=None):
        call(library().offsync_client_resolve, self._handle, b(mutation_id), resolution,
             b(json.dumps(edited)) if edited is not None else None)

    def sign_in(self, user, access_token, refresh_token=None):
        call(library().offsync_client_sign_in, self._handle, b(user), b(access_token), b(refresh_token))

    def sign_out(self):
        return call(library().offsync_client_sign_out, self._handle)

    def close(self):
        for observer in self._observers:
            observer.remove()
        self._observers = []
        if self._handle:
            library().offsync_client_free(self._handle)
            self._handle = None
