"""The explorer player's payload: a JSON header plus typed arrays, each array sent to a browser session once.

Figures as JSON spend most of their bytes on numbers written out in decimal; here every array
travels as its own bytes (float32, int32, uint16), addressed by a hash of its content. A session
remembers which arrays it has sent (`sent`, kept in its session state); the browser keeps those it
received (ui/race_view.js), so a rerun that changes one run sends that run's arrays, not the race.
Should the browser miss one (it dropped it, or a message never arrived), it names it and the page
forgets having sent it (`forget`), and the next rerun carries it again.

    wire = Wire(sent)                 # sent: a dict kept across reruns (session state)
    header = {"series": wire.ref(a)}  # an array becomes {"#": key}
    payload = wire.pack(header)       # bytes: MAGIC, u32 header length, header JSON, 8-aligned array bytes

Quantized arrays (quantize) carry a bank's many rows at 2 bytes a value: per (row, channel) an offset
and a step, NaN as 65535; the player restores v = lo + q * step. `deflated` packs such an array
smaller still: differences along its last axis (a trajectory moves a little each step), high bytes
then low bytes, through zlib (the browser's DecompressionStream("deflate") undoes it): about 2.4x.
Plain JSON values can travel once too (`json_bytes`): the figure's template, the same on every view.
"""
from __future__ import annotations

import hashlib
import json
import math
import zlib
from collections.abc import MutableMapping

import numpy as np

MAGIC = b"OPW1"
MAX_REMEMBERED = 512  # arrays a session remembers having sent (the oldest forgotten first)
DTYPES = {"float32": "f4", "int32": "i4", "uint16": "u2", "uint8": "u1", "float64": "f8"}
NAN_Q = 65535


def key_of(a: np.ndarray) -> str:
    h = hashlib.blake2b(digest_size=12)
    h.update(f"{a.dtype.str}{a.shape}".encode())
    h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


class Wire:
    def __init__(self, sent: MutableMapping[str, bool] | None = None):
        self.sent = sent if sent is not None else {}
        self.parts: dict[str, np.ndarray] = {}  # arrays this payload carries
        self.keys: set[str] = set()  # every array this payload refers to

    def ref(self, a) -> dict:
        """A reference to array `a` (its bytes are carried unless this session has sent them)."""
        a = np.ascontiguousarray(a)
        if a.dtype.name not in DTYPES:
            raise TypeError(f"the wire carries {', '.join(DTYPES)} arrays, not {a.dtype}")
        k = key_of(a)
        self.keys.add(k)
        if k not in self.sent:
            self.parts[k] = a
        return {"#": k}

    def pack(self, header: dict) -> bytes:
        """The payload: header (with "blobs": {key: [offset, dtype, shape]}) and the carried arrays' bytes."""
        blobs, chunks, offset = {}, [], 0
        for k, a in self.parts.items():
            raw = a.tobytes()
            blobs[k] = [offset, DTYPES[a.dtype.name], list(a.shape)]
            pad = (-len(raw)) % 8
            chunks.append(raw + b"\0" * pad)
            offset += len(raw) + pad
        head = json.dumps({**header, "blobs": blobs}, separators=(",", ":"), allow_nan=False).encode()
        head += b" " * ((-len(head) - len(MAGIC) - 4) % 8)  # the arrays start 8-aligned
        for k in self.parts:
            self.sent[k] = True
            self.sent.pop(k)  # re-insert: the newest at the end
            self.sent[k] = True
        while len(self.sent) > MAX_REMEMBERED:
            self.sent.pop(next(iter(self.sent)))
        self.parts, self.keys = {}, set()  # the next payload carries only what it adds
        return MAGIC + len(head).to_bytes(4, "little") + head + b"".join(chunks)


def forget(sent: MutableMapping[str, bool], keys) -> int:
    """The browser lacks these arrays: send them again. Returns how many were forgotten (bad keys ignored)."""
    n = 0
    for k in keys if isinstance(keys, (list, tuple)) else ():
        if isinstance(k, str) and len(k) <= 64 and sent.pop(k, None) is not None:
            n += 1
    return n


def unpack(payload: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """(header, arrays by key): the reader the tests use (ui/race_view.js is the browser's)."""
    if payload[:4] != MAGIC:
        raise ValueError("not a wire payload")
    n = int.from_bytes(payload[4:8], "little")
    header = json.loads(payload[8:8 + n])
    base = 8 + n
    inv = {v: k for k, v in DTYPES.items()}
    arrays = {}
    for k, (off, dt, shape) in header["blobs"].items():
        count = math.prod(shape)
        arrays[k] = np.frombuffer(payload, dtype=inv[dt], count=count, offset=base + off).reshape(shape)
    return header, arrays


def quantize(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(q, scale) for a (rows, channels, n) array: q uint16 (NaN as NAN_Q), scale (rows, channels, 2)
    float32 [lo, step] with v = lo + q * step (step 0 where a row's channel is constant or all NaN)."""
    a = np.asarray(a, dtype=np.float64)
    finite = np.isfinite(a)
    some = finite.any(-1)
    lo = np.where(some, np.where(finite, a, np.inf).min(-1), 0.0)
    hi = np.where(some, np.where(finite, a, -np.inf).max(-1), 0.0)
    step = (hi - lo) / (NAN_Q - 1)
    q = np.where(step[..., None] > 0, np.round((a - lo[..., None]) / np.where(step > 0, step, 1.0)[..., None]), 0)
    q = np.where(finite, np.clip(q, 0, NAN_Q - 1), NAN_Q).astype(np.uint16)
    return q, np.stack([lo, step], axis=-1).astype(np.float32)


def dequantize(q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    v = scale[..., 0:1].astype(np.float64) + q.astype(np.float64) * scale[..., 1:2]
    return np.where(q == NAN_Q, np.nan, v)


def deflated(q: np.ndarray) -> np.ndarray:
    """uint8: zlib of q's (uint16) differences along the last axis, all high bytes then all low bytes."""
    q = np.ascontiguousarray(q, dtype=np.uint16)
    d = np.diff(q, axis=-1, prepend=np.zeros(q.shape[:-1] + (1,), dtype=np.uint16))  # wraps mod 2^16
    planes = np.concatenate([(d >> 8).astype(np.uint8).ravel(), (d & 0xFF).astype(np.uint8).ravel()])
    return np.frombuffer(zlib.compress(planes.tobytes(), 6), dtype=np.uint8)


def inflated(z: np.ndarray, shape) -> np.ndarray:
    """deflated's inverse (the tests' reader; the player's is in ui/race_view.js)."""
    planes = np.frombuffer(zlib.decompress(np.asarray(z, dtype=np.uint8).tobytes()), dtype=np.uint8)
    n = math.prod(shape)
    d = (planes[:n].astype(np.uint16) << 8) | planes[n:].astype(np.uint16)
    return np.cumsum(d.reshape(shape), axis=-1, dtype=np.uint16)


def json_bytes(value) -> np.ndarray:
    """A JSON value as uint8 bytes, to send by reference (once a session) instead of inside every header."""
    return np.frombuffer(json.dumps(value, separators=(",", ":"), allow_nan=False).encode(), dtype=np.uint8)
