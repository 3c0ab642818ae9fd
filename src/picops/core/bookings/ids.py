"""Booking ids: ULID-like (Crockford base32, 26 characters), sortable by creation time and unique.

48 bits of milliseconds since the epoch, then 80 random bits. Within one process, ids made in the same
millisecond increment the random part, so ids from one process sort strictly in the order they were made.
"""

from __future__ import annotations

import os
import re
import threading
import time

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ID_LENGTH = 26
BOOKING_ID = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")

_lock = threading.Lock()
_last: tuple[int, int] = (0, 0)


def _encode(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        out.append(ALPHABET[rem])
    return "".join(reversed(out))


def new_id(now_ms: int | None = None) -> str:
    global _last
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    with _lock:
        last_ms, last_rand = _last
        if ms <= last_ms:
            ms, rand = last_ms, (last_rand + 1) % (1 << 80)
        else:
            rand = int.from_bytes(os.urandom(10), "big")
        _last = (ms, rand)
    return _encode(ms, 10) + _encode(rand, 16)


def is_booking_id(value: object) -> bool:
    return isinstance(value, str) and bool(BOOKING_ID.match(value))


def id_time_ms(booking_id: str) -> int:
    value = 0
    for ch in booking_id[:10]:
        value = value * 32 + ALPHABET.index(ch)
    return value
