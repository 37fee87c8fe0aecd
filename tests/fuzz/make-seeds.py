#!/usr/bin/python3
"""Writes the seed corpora of tests/fuzz/fuzz_codec.c (valid and invalid ingest headers and control
requests) and tests/fuzz/fuzz_control.c (every control op with valid and invalid arguments), packed
by an implementation independent of ours (Debian's python3-msgpack).

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


# Every op of docs/protocol.md section 3 with valid arguments, then each argument wrong in turn
# (missing, mistyped, too long, out of range), for tests/fuzz/fuzz_control.c.
NAME64 = "n" * 64
series_create = {"op": "create", "stream": "eeg", "kind": "series", "dim": 3, "rate": 256.0,
                 "channel_names": ["Fp1", "Fp2", "Cz"], "channel_units": ["uV", "uV", "uV"]}
attach_ok = {"op": "attach", "stream": "s", "pipeline": "top", "algo": "topeig",
             "params": {"k": 3, "eta": 0.5, "method": "adaoja", "center": True, "seed": -1},
             "every": 10, "interval_ms": 0}


def without(d, key):
    return {k: v for k, v in d.items() if k != key}


control_args = {
    "ping": {"op": "ping", "id": 1},
    "list": {"op": "list"},
    "stats": {"op": "stats"},
    "algos": {"op": "algos", "id": "a"},
    "unknown_op": {"op": "frobnicate", "stream": "s"},
    # create
    "create_rows": {"op": "create", "stream": "s", "kind": "rows", "dim": 8},
    "create_blocks": {"op": "create", "stream": "m", "kind": "blocks", "dim": 100},
    "create_series_names_units": series_create,
    "create_dim_max": {"op": "create", "stream": NAME64, "kind": "rows", "dim": 1 << 20},
    "create_rate_int": dict(series_create, rate=256),
    "create_rate_float32": msgpack.packb(dict(series_create, rate=128.0), use_single_float=True),
    "create_names_1024": {"op": "create", "stream": "big", "kind": "series", "dim": 1024,
                          "channel_names": ["c%d" % i for i in range(1024)]},
    "create_missing_stream": without(series_create, "stream"),
    "create_missing_kind": without(series_create, "kind"),
    "create_missing_dim": without(series_create, "dim"),
    "create_bad_kind": dict(series_create, kind="matrix"),
    "create_kind_too_long": dict(series_create, kind="s" * 40),
    "create_stream_too_long": dict(series_create, stream="n" * 65),
    "create_stream_int": dict(series_create, stream=5),
    "create_dim_zero": dict(series_create, dim=0),
    "create_dim_too_big": dict(series_create, dim=(1 << 20) + 1),
    "create_dim_negative": dict(series_create, dim=-3),
    "create_dim_float": dict(series_create, dim=3.0),
    "create_dim_u64_max": dict(series_create, dim=(1 << 64) - 1),
    "create_rate_str": dict(series_create, rate="fast"),
    "create_rate_nil": dict(series_create, rate=None),
    "create_names_not_array": dict(series_create, channel_names="Fp1"),
    "create_names_1025": dict(series_create, channel_names=["c"] * 1025),
    "create_name_too_long": dict(series_create, channel_names=["x" * 65, "a", "b"]),
    "create_name_with_nul": dict(series_create, channel_names=["a\x00b", "a", "b"]),
    "create_name_not_str": dict(series_create, channel_names=["a", 2, "b"]),
    "create_units_wrong_count": dict(series_create, channel_units=["uV"]),
    "create_units_on_rows": dict(series_create, kind="rows"),
    "create_units_bin": dict(series_create, channel_units=[b"uV", b"uV", b"uV"]),
    # drop
    "drop": {"op": "drop", "stream": "s"},
    "drop_missing_stream": {"op": "drop"},
    "drop_stream_array": {"op": "drop", "stream": ["s"]},
    # attach
    "attach": attach_ok,
    "attach_no_params": without(attach_ok, "params"),
    "attach_params_nil": dict(attach_ok, params=None),
    "attach_params_32": dict(attach_ok, params={"p%d" % i: i for i in range(32)}),
    "attach_params_33": dict(attach_ok, params={"p%d" % i: i for i in range(33)}),
    "attach_params_float": dict(attach_ok, params={"eta": 0.1, "tiny": 5e-324, "big": 1.7e308,
                                                   "neg": -0.0}),
    "attach_params_float32": msgpack.packb(dict(attach_ok, params={"eta": 0.1}),
                                           use_single_float=True),
    "attach_params_not_map": dict(attach_ok, params=["k", 3]),
    "attach_param_value_map": dict(attach_ok, params={"k": {"x": 1}}),
    "attach_param_value_nil": dict(attach_ok, params={"k": None}),
    "attach_param_key_int": b"\x86" + msgpack.packb("op") + msgpack.packb("attach")
        + msgpack.packb("stream") + msgpack.packb("s") + msgpack.packb("pipeline")
        + msgpack.packb("p") + msgpack.packb("algo") + msgpack.packb("topeig")
        + msgpack.packb("params") + b"\x81\x01\x02" + msgpack.packb("every") + b"\x00",
    "attach_param_value_too_long": dict(attach_ok, params={"method": "m" * 256}),
    "attach_param_key_too_long": dict(attach_ok, params={"k" * 65: 1}),
    "attach_missing_pipeline": without(attach_ok, "pipeline"),
    "attach_missing_algo": without(attach_ok, "algo"),
    "attach_algo_int": dict(attach_ok, algo=7),
    "attach_every_negative": dict(attach_ok, every=-1),
    "attach_every_float": dict(attach_ok, every=1.5),
    "attach_interval_str": dict(attach_ok, interval_ms="250"),
    "attach_every_u64_max": dict(attach_ok, every=(1 << 64) - 1),
    # detach, get, call
    "detach": {"op": "detach", "stream": "s", "pipeline": "top"},
    "detach_missing_pipeline": {"op": "detach", "stream": "s"},
    "get": {"op": "get", "stream": "s", "pipeline": "top", "id": [1, 2]},
    "get_detail": {"op": "get", "stream": "s", "pipeline": "isvd", "detail": "u",
                   "args": {"rows": 3}},
    "get_detail_nil": {"op": "get", "stream": "s", "pipeline": "top", "detail": None},
    "get_detail_empty": {"op": "get", "stream": "s", "pipeline": "top", "detail": ""},
    "get_detail_too_long": {"op": "get", "stream": "s", "pipeline": "top", "detail": "d" * 32},
    "get_detail_int": {"op": "get", "stream": "s", "pipeline": "top", "detail": 3},
    "get_args_not_map": {"op": "get", "stream": "s", "pipeline": "top", "detail": "u",
                         "args": [1]},
    "get_plain_with_bad_args": {"op": "get", "stream": "s", "pipeline": "top", "args": 5},
    "call": {"op": "call", "stream": "s", "pipeline": "clf", "method": "fit",
             "args": {"labels": ["a", "b"], "c": 1.0}},
    "call_args_nil": {"op": "call", "stream": "s", "pipeline": "sc", "method": "recluster",
                      "args": None},
    "call_missing_method": {"op": "call", "stream": "s", "pipeline": "clf"},
    "call_method_bin": {"op": "call", "stream": "s", "pipeline": "clf", "method": b"fit"},
    "call_args_str": {"op": "call", "stream": "s", "pipeline": "clf", "method": "fit",
                      "args": "x"},
    "call_missing_stream": {"op": "call", "pipeline": "clf", "method": "fit"},
    # request-level oddities around valid ops
    "duplicate_keys": b"\x83" + msgpack.packb("op") + msgpack.packb("drop")
        + msgpack.packb("stream") + msgpack.packb("a") + msgpack.packb("stream") + msgpack.packb(5),
    "deep_id": {"op": "ping", "id": [[[[[[[[[[[[[[1]]]]]]]]]]]]]]},
}
control_args = {k: v if isinstance(v, bytes) else pack(v) for k, v in control_args.items()}


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
write("control_args", control_args)
