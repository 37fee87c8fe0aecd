#!/usr/bin/python3
"""Writes the seed corpus of tests/fuzz/fuzz_codec.c: valid and invalid ingest headers and control
requests, packed by an implementation independent of ours (Debian's python3-msgpack).

Usage: /usr/bin/python3 tests/fuzz/make-seeds.py   (rewrites tests/fuzz/corpus/*/)
"""
import os
import shutil
import struct

import msgpack

HERE = os.path.dirname(os.path.abspath(__file__))


def pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


# The worked example of docs/protocol.md section 4, byte for byte.
WORKED_EXAMPLE = bytes.fromhex(
    "86" "a17601" "a673747265616da173" "a46b696e64a4726f7773" "a56474797065a3663634"
    "a57368617065920203" "a373657101")

rows = {"v": 1, "stream": "s", "kind": "rows", "dtype": "f64", "shape": [2, 3], "seq": 1}
assert pack(rows) == WORKED_EXAMPLE, "the protocol document's example disagrees with msgpack"

series = {"v": 1, "stream": "eeg-01", "kind": "series", "dtype": "i16", "shape": [256, 19],
          "seq": 77, "t": 1700000000.5, "t0": 1700000000.25, "rate": 256.0, "scale": 0.0625,
          "events": [{"t": 1700000000.3, "label": "eyes-closed", "value": 1.5, "duration": 2.0},
                     {"t": 1700000000.4, "label": "spike"}]}
blocks = {"v": 1, "stream": "matrix", "kind": "blocks", "dtype": "f32", "shape": [100, 8],
          "id": "block-17", "t": 1.0}

ingest = {
    "rows_worked_example": WORKED_EXAMPLE,
    "series_i16_events": pack(series),
    "series_events_only": pack({"v": 1, "stream": "m", "kind": "series", "dtype": "f32",
                                "shape": [0, 4], "events": [{"t": 5, "label": "x"}]}),
    "blocks_str_id": pack(blocks),
    "blocks_int_id": pack(dict(blocks, id=-42, dtype="f64")),
    "rows_end_only": pack({"v": 1, "stream": "s", "kind": "rows", "dtype": "f32",
                           "shape": [0, 3], "end": True}),
    "rows_unknown_keys": pack(dict(rows, future={"a": [1, 2, {"b": None}]}, blob=b"\x00\x01")),
    "rows_float32_time": msgpack.packb(dict(rows, t=1.5), use_single_float=True),
    # invalid
    "bad_version": pack(dict(rows, v=2)),
    "bad_name": pack(dict(rows, stream="a.b")),
    "bad_kind": pack(dict(rows, kind="matrix")),
    "bad_shape": pack(dict(rows, shape=[2])),
    "missing_rate": pack({k: v for k, v in series.items() if k != "rate"}),
    "i16_rows": pack(dict(rows, dtype="i16", scale=1.0)),
    "too_large": pack(dict(rows, shape=[1 << 30, 1 << 20])),
    "bomb_array32": bytes.fromhex("dd00ffffff"),
    # the worked example with a seventh key "x" whose value is hostile (0x87 = map of 7)
    "bomb_map32_in_header": b"\x87" + WORKED_EXAMPLE[1:] + pack("x") + bytes.fromhex("dfffffffff"),
    "ext_in_header": b"\x87" + WORKED_EXAMPLE[1:] + pack("x") + bytes.fromhex("d40100"),
    "reserved_c1": b"\x87" + WORKED_EXAMPLE[1:] + pack("x") + b"\xc1",
    "truncated": pack(series)[:-5],
    "trailing": WORKED_EXAMPLE + b"\x00",
    "deep_nesting": b"\x87" + WORKED_EXAMPLE[1:] + pack("x") + b"\x91" * 20 + b"\x01",
    "not_a_map": pack([1, 2, 3]),
}

control = {
    "ping": pack({"op": "ping"}),
    "ping_with_id": pack({"op": "ping", "id": 7}),
    "create": pack({"op": "create", "id": "c1", "stream": "eeg", "kind": "series", "dim": 19,
                    "rate": 256.0, "channel_names": ["Fp1", "Fp2", "F3"]}),
    "attach": pack({"op": "attach", "id": [1, "x"], "stream": "s", "pipeline": "top",
                    "algo": "topeig", "params": {"k": 3, "eta": 0.5, "method": "oja",
                                                "center": True}, "every": 10,
                    "interval_ms": 250}),
    "get": pack({"op": "get", "stream": "s", "pipeline": "top"}),
    "detach": pack({"op": "detach", "stream": "s", "pipeline": "top"}),
    "drop": pack({"op": "drop", "stream": "s"}),
    "list": pack({"op": "list"}),
    "stats": pack({"op": "stats", "id": {"nested": {"deeper": [None, True, 1.5]}}}),
    # invalid
    "missing_op": pack({"id": 5, "stream": "s"}),
    "op_not_str": pack({"op": 1}),
    "op_too_long": pack({"op": "x" * 40}),
    "not_a_map": pack(["ping"]),
    "bomb": bytes.fromhex("81a26f70dd7fffffff"),
    "ext": b"\x82" + pack("op") + pack("ping") + pack("x") + bytes.fromhex("d40000"),
    "truncated": pack({"op": "attach", "params": {"k": 3}})[:-1],
}


def write(name, seeds):
    out = os.path.join(HERE, "corpus", name)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    for key, data in sorted(seeds.items()):
        with open(os.path.join(out, key + ".bin"), "wb") as f:
            f.write(data)
    print(f"{out}: {len(seeds)} seeds")


write("ingest_header", ingest)
write("control_request", control)
