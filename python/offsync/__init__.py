"""offsync for Python: a ctypes binding of the C ABI (include/offsync/offsync.h).

Server and Client own their handles; close() them (or use ``with``). Records, reports, queries and
outboxes are plain Python values (JSON underneath). Errors raise OffsyncError with the C ABI's
code and message. Callbacks (live queries, sync news, the exchange) run on offsync's threads; an
exception raised in one is swallowed there (it must not cross into C).
"""

from ._native import (CONFLICT, INVALID_ARGUMENT, NOT_FOUND, OK, TRANSIENT, VALIDATION, OffsyncError,
                      library)
from .client import EDITED, KEEP_MINE, TAKE_SERVER, Client
from .server import Listener, Server

__all__ = ["OffsyncError", "Server", "Listener", "Client", "library", "OK", "INVALID_ARGUMENT", "NOT_FOUND",
           "CONFLICT", "VALIDATION", "TRANSIENT", "KEEP_MINE", "TAKE_SERVER", "EDITED"]
