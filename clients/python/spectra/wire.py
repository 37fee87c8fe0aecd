"""Wire format of protocol version 1 (docs/protocol.md): names, msgpack with limits, ndarrays and
ingest headers. No sockets here, so every function can be tested on bytes alone."""

import math
import re

import msgpack
import numpy as np

from .errors import ProtocolError

PROTOCOL_VERSION = 1
DEFAULT_CONTROL = "tcp://127.0.0.1:5557"
DEFAULT_INGEST = "tcp://127.0.0.1:5555"
DEFAULT_PUBLISH = "tcp://127.0.0.1:5556"
NAME_MAX = 64
HEADER_MAX = 65536
KINDS = ("rows", "series", "blocks")

# Deeper than any body or reply the daemon makes (stats is 6 levels), shallow enough that walking a
# hostile reply can never reach Python's recursion limit.
MAX_DEPTH = 32

_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")

# Wire dtype name -> little-endian numpy dtype (ndarrays in results and replies).
NDARRAY_DTYPES = {"f64": np.dtype("<f8"), "f32": np.dtype("<f4"), "i64": np.dtype("<i8")}
# Ingest payload dtypes.
INGEST_DTYPES = {"f64": np.dtype("<f8"), "f32": np.dtype("<f4"), "i16": np.dtype("<i2")}


def name_valid(name):
    """True when ``name`` is a valid stream or pipeline name: 1 to 64 of ``[A-Za-z0-9_-]``."""
    return isinstance(name, str) and _NAME_RE.match(name) is not None


def check_name(what, name):
    """Raises ValueError unless ``name`` is a valid stream or pipeline name."""
    if not name_valid(name):
        raise ValueError(f"bad {what} name {name!r} (1 to {NAME_MAX} of [A-Za-z0-9_-])")


# ---- decoding ----------------------------------------------------------------------------------

def unpack(data, what="message"):
    """Decodes one msgpack object from ``data`` (bytes) with every size bounded by the bytes received,
    no extension types and at most MAX_DEPTH levels of nesting; ndarray maps become numpy arrays.
    Raises ProtocolError for anything else."""
    n = len(data)
    try:
        obj = msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=True,
                              max_str_len=n, max_bin_len=n, max_array_len=n, max_map_len=n // 2,
                              max_ext_len=0)
    except Exception as e:  # msgpack raises ValueError, FormatError, StackError, ExtraData, ...
        raise ProtocolError(f"{what}: not well-formed msgpack ({type(e).__name__}: {e})") from None
    return _decode(obj, 0, what)


def _decode(obj, depth, what):
    if depth > MAX_DEPTH:
        raise ProtocolError(f"{what}: nested deeper than {MAX_DEPTH} levels")
    if isinstance(obj, dict):
        for k in obj:
            if not isinstance(k, str):
                raise ProtocolError(f"{what}: map key {k!r} is not a str")
        if "dtype" in obj and "shape" in obj and isinstance(obj.get("data"), bytes):
            arr = decode_ndarray(obj, what)
            if arr is not None:
                return arr
        return {k: _decode(v, depth + 1, what) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v, depth + 1, what) for v in obj]
    if isinstance(obj, (msgpack.ExtType, msgpack.Timestamp)):
        raise ProtocolError(f"{what}: msgpack extension types are not part of the protocol")
    return obj


def decode_ndarray(m, what="ndarray"):
    """Turns an ndarray map ``{"dtype", "shape", "data"}`` into a read-only numpy array that shares
    the bytes of ``data`` (no copy). Returns None when ``dtype`` is not one this protocol version
    defines (the map is then left as a map). Raises ProtocolError when the shape is not a list of
    non-negative integers or the data length is not ``prod(shape) x itemsize``."""
    dt = NDARRAY_DTYPES.get(m.get("dtype"))
    if dt is None:
        return None
    shape, data = m.get("shape"), m.get("data")
    if not isinstance(shape, list) or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
        raise ProtocolError(f"{what}: ndarray shape {shape!r} is not a list of sizes")
    count = math.prod(shape)
    if count * dt.itemsize != len(data):
        raise ProtocolError(f"{what}: ndarray of shape {shape} and dtype {m['dtype']} needs "
                            f"{count * dt.itemsize} bytes, data has {len(data)}")
    return np.frombuffer(data, dtype=dt).reshape(shape)


# ---- encoding ----------------------------------------------------------------------------------

def encode_ndarray(a):
    """The ndarray map of numpy array ``a``: float64 -> f64, float32 -> f32, integers and bools ->
    i64 (other dtypes: TypeError)."""
    a = np.asarray(a)
    if a.dtype.kind == "f" and a.dtype.itemsize == 4:
        name = "f32"
    elif a.dtype.kind == "f":
        name = "f64"
    elif a.dtype.kind in "iub":
        name = "i64"
    else:
        raise TypeError(f"cannot send an array of dtype {a.dtype} (float or integer only)")
    a = a.astype(NDARRAY_DTYPES[name], order="C", copy=False)   # ascontiguousarray makes 0-d 1-d
    return {"dtype": name, "shape": list(a.shape), "data": a.tobytes()}


def plain(obj, depth=0):
    """Converts a request value to what msgpack packs: numpy arrays become ndarray maps, numpy
    scalars Python numbers, tuples lists. Map keys must be str."""
    if depth > MAX_DEPTH:
        raise ValueError("value nested too deeply")
    if obj is None or isinstance(obj, (bool, int, float, str, bytes)):
        return obj
    if isinstance(obj, np.ndarray):
        return encode_ndarray(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"map key {k!r} is not a str")
            out[k] = plain(v, depth + 1)
        return out
    if isinstance(obj, (list, tuple)):
        return [plain(v, depth + 1) for v in obj]
    raise TypeError(f"cannot send a value of type {type(obj).__name__}")


def pack(obj):
    """msgpack bytes of a request map (str as str, bytes as bin)."""
    return msgpack.packb(plain(obj), use_bin_type=True)


def _finite_number(what, x):
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise TypeError(f"{what} must be a number, not {type(x).__name__}")
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"{what} must be finite")
    return x


def encode_event(e):
    """Checks one series event ``{"t", "label", "value"?, "duration"?}`` and returns its wire map."""
    if not isinstance(e, dict):
        raise TypeError("an event is a dict {t, label, value?, duration?}")
    unknown = set(e) - {"t", "label", "value", "duration"}
    if unknown:
        raise ValueError(f"unknown event keys {sorted(unknown)}")
    if not isinstance(e.get("label"), str):
        raise ValueError("an event needs a str label")
    out = {"t": _finite_number("event t", e.get("t")), "label": e["label"]}
    if e.get("value") is not None:
        out["value"] = _finite_number("event value", e["value"])
    if e.get("duration") is not None:
        d = _finite_number("event duration", e["duration"])
        if d < 0:
            raise ValueError("event duration must be >= 0")
        if d > 0:
            out["duration"] = d
    return out


def encode_header(stream, kind, dtype, shape, seq=None, t=None, t0=None, rate=None, scale=None,
                  block_id=None, events=None, end=False):
    """The msgpack header frame of one ingest message (protocol section 1), keys in the order of the
    protocol's worked example. ``events`` must already be wire maps (see encode_event). Raises
    ValueError for a message the daemon would refuse."""
    check_name("stream", stream)
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r} is not one of {KINDS}")
    if dtype not in INGEST_DTYPES or (dtype == "i16" and kind != "series"):
        raise ValueError(f"dtype {dtype!r} is not allowed for {kind}")
    n, width = shape
    if width < 1 or width > 0xFFFFFFFF or n < 0 or n > 0xFFFFFFFF:
        raise ValueError(f"shape {list(shape)} out of range")
    h = {"v": PROTOCOL_VERSION, "stream": stream, "kind": kind, "dtype": dtype,
         "shape": [int(n), int(width)]}
    if seq is not None:
        h["seq"] = int(seq)
    if t is not None:
        h["t"] = _finite_number("t", t)
    if kind == "series" and (n > 0 or t0 is not None or rate is not None):
        if t0 is None or rate is None:
            raise ValueError("a series message with samples needs t0 and rate")
        h["t0"] = _finite_number("t0", t0)
        h["rate"] = _finite_number("rate", rate)
        if h["rate"] <= 0:
            raise ValueError("rate must be > 0")
    if dtype == "i16":
        if scale is None or _finite_number("scale", scale) == 0:
            raise ValueError("dtype i16 needs a finite, non-zero scale")
        h["scale"] = float(scale)
    if kind == "blocks":
        if isinstance(block_id, bool) or not isinstance(block_id, (str, int, np.integer)):
            raise ValueError("a block needs an id (str or int)")
        h["id"] = block_id if isinstance(block_id, str) else int(block_id)
    if events:
        if kind != "series":
            raise ValueError("events belong to series messages")
        h["events"] = list(events)
    if end:
        h["end"] = True
    data = msgpack.packb(h, use_bin_type=True)
    if len(data) > HEADER_MAX:
        raise ValueError(f"header of {len(data)} bytes exceeds {HEADER_MAX} (too many events)")
    return data
