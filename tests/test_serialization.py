"""lamina.save / lamina.load: safetensors round trips, atomic writes, corrupted files, interop."""

import io
import json
import math
import os
import struct

import numpy as np
import pytest

import lamina
from lamina import serialization


def _arrays_equal(a, b):
    assert isinstance(b, lamina.Tensor)
    assert b.dtype == a.dtype
    assert b.shape == a.shape
    np.testing.assert_array_equal(b.numpy(), np.asarray(a))


def _assert_same(expected, got):
    """Deep equality with exact types (ints stay ints, tuples stay tuples)."""
    if isinstance(expected, lamina.Tensor):
        _arrays_equal(expected.data, got)
    elif isinstance(expected, np.ndarray):
        assert isinstance(got, np.ndarray)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
    elif isinstance(expected, dict):
        assert type(got) is dict
        assert list(got) == list(expected)
        for k in expected:
            assert type(k) is type(next(g for g in got if g == k))
            _assert_same(expected[k], got[k])
    elif isinstance(expected, (list, tuple)):
        assert type(got) is type(expected)
        assert len(got) == len(expected)
        for e, g in zip(expected, got):
            _assert_same(e, g)
    elif isinstance(expected, float) and math.isnan(expected):
        assert isinstance(got, float) and math.isnan(got)
    else:
        assert type(got) is type(expected)
        assert got == expected


RNG = np.random.default_rng(0)


@pytest.mark.parametrize("arr", [
    RNG.standard_normal((3, 4)).astype(np.float32),
    RNG.standard_normal((2, 3, 5)),
    RNG.integers(-10**12, 10**12, size=(7,)),
    RNG.random((4, 4)) > 0.5,
    np.array(3.5, dtype=np.float32),
    np.array(7, dtype=np.int64),
    np.zeros((0,), np.float32),
    np.zeros((3, 0, 2), np.float64),
], ids=["f32", "f64", "i64", "bool", "0d-f32", "0d-i64", "empty", "empty-3d"])
def test_state_dict_round_trip_dtypes(tmp_path, arr):
    sd = {"w": lamina.tensor(arr), "other.bias": lamina.ones(3)}
    path = tmp_path / "m.safetensors"
    lamina.save(sd, path)
    got = lamina.load(path)
    assert list(got) == ["w", "other.bias"]
    _arrays_equal(arr, got["w"])
    _arrays_equal(np.ones(3, np.float32), got["other.bias"])


def test_non_contiguous_tensors_round_trip(tmp_path):
    # safetensors#825: writing a strided array's buffer as-is scrambles it
    base = np.arange(60, dtype=np.float64).reshape(3, 4, 5)
    cases = {
        "transposed": base.transpose(2, 0, 1),
        "T": base[0].T,
        "strided": base[:, ::2, 1::2],
        "reversed": base[::-1],
        "f_order": np.asfortranarray(base.astype(np.float32)),
        "broadcast": np.broadcast_to(np.arange(3, dtype=np.int64), (4, 3)),
    }
    for a in cases.values():
        assert not a.flags.c_contiguous
    path = tmp_path / "nc.safetensors"
    lamina.save({k: lamina.from_numpy(a) if a.flags.writeable else lamina.tensor(a)
                 for k, a in cases.items()}, path)
    got = lamina.load(path)
    for k, a in cases.items():
        _arrays_equal(a, got[k])
    # the sources were not modified or made contiguous
    assert not cases["transposed"].flags.c_contiguous


def test_lamina_transposed_tensor_round_trip(tmp_path):
    t = lamina.tensor(np.arange(12.0).reshape(3, 4)).T
    lamina.save({"t": t}, tmp_path / "t.safetensors")
    _arrays_equal(np.arange(12.0).reshape(3, 4).T, lamina.load(tmp_path / "t.safetensors")["t"])


def test_nested_optimizer_state_round_trip(tmp_path):
    w = lamina.tensor(RNG.standard_normal((4, 3)))
    state = {
        "state": {
            0: {"step": 3, "exp_avg": lamina.tensor(RNG.standard_normal((4, 3))),
                "exp_avg_sq": lamina.tensor(RNG.random((4, 3)).astype(np.float32))},
            1: {"step": 3, "momentum_buffer": None, "flag": True},
        },
        "param_groups": [
            {"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-08, "weight_decay": 0,
             "amsgrad": False, "params": [0, 1], "name": "group-0", "maximize": False,
             "big": 2**70, "inf": float("inf"), "nan": float("nan"), "neg_zero": -0.0},
        ],
        "extras": [w, (1, 2.0, "x"), {"nested": {"deep": [np.arange(3)]}}],
        (1, "a"): np.float32(2.5),
        2.5: np.int64(7),
        None: "none key",
    }
    path = tmp_path / "opt.safetensors"
    lamina.save(state, path)
    got = lamina.load(path)
    expected = dict(state)
    expected[(1, "a")] = 2.5  # NumPy scalars come back as Python numbers
    expected[2.5] = 7
    _assert_same(expected, got)
    assert got["param_groups"][0]["neg_zero"] == 0.0
    assert math.copysign(1, got["param_groups"][0]["neg_zero"]) == -1


def test_top_level_objects(tmp_path):
    p = tmp_path / "x.safetensors"
    for obj in [lamina.arange(5), [lamina.ones(2), 3], (1, 2), 5, "s", None, {}, []]:
        lamina.save(obj, p)
        got = lamina.load(p)
        if isinstance(obj, lamina.Tensor):
            _arrays_equal(obj.data, got)
        else:
            _assert_same(obj, got)


def test_shared_tensor_stays_shared(tmp_path):
    w = lamina.randn(3, 3)
    p = tmp_path / "tied.safetensors"
    lamina.save({"enc.weight": w, "dec.weight": w}, p)
    got = lamina.load(p)
    assert got["enc.weight"] is got["dec.weight"]
    _arrays_equal(w.data, got["dec.weight"])
    # written once
    header = _header(p)
    assert sum(1 for k in header if k != "__metadata__") == 1


def test_loaded_tensors_are_writable_and_independent(tmp_path):
    p = tmp_path / "w.safetensors"
    lamina.save({"a": lamina.zeros(3), "b": lamina.zeros(3)}, p)
    got = lamina.load(p)
    got["a"].data += 1
    np.testing.assert_array_equal(got["b"].numpy(), np.zeros(3))


def test_file_objects():
    buf = io.BytesIO()
    lamina.save({"x": lamina.arange(4)}, buf)
    buf.seek(0)
    _arrays_equal(np.arange(4), lamina.load(buf)["x"])


def test_header_layout_follows_the_spec(tmp_path):
    p = tmp_path / "spec.safetensors"
    lamina.save({"a": lamina.ones(2, 3), "b": lamina.tensor([True, False])}, p)
    raw = p.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert (8 + n) % 8 == 0
    header = json.loads(raw[8:8 + n])
    assert header["a"] == {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}
    assert header["b"] == {"dtype": "BOOL", "shape": [2], "data_offsets": [24, 26]}
    assert all(isinstance(v, str) for v in header["__metadata__"].values())
    assert len(raw) == 8 + n + 26
    assert np.frombuffer(raw[8 + n:8 + n + 24], "<f4").tolist() == [1.0] * 6


def test_user_metadata(tmp_path):
    p = tmp_path / "m.safetensors"
    lamina.save({"a": lamina.ones(1)}, p, metadata={"epoch": "3"})
    assert _header(p)["__metadata__"]["epoch"] == "3"
    with pytest.raises(TypeError, match="str -> str"):
        lamina.save({"a": lamina.ones(1)}, p, metadata={"epoch": 3})


def test_unsupported_objects_raise(tmp_path):
    p = tmp_path / "bad.safetensors"

    class Foo:
        pass

    with pytest.raises(TypeError, match=r"Foo at the top level\['x'\]\[1\]"):
        lamina.save({"x": [1, Foo()]}, p)
    with pytest.raises(TypeError, match="dict key of type"):
        lamina.save({frozenset(): 1}, p)
    with pytest.raises(TypeError, match="complex128"):
        lamina.save({"c": np.ones(2, np.complex128)}, p)
    assert not p.exists()
    assert os.listdir(tmp_path) == []


# --- atomicity -----------------------------------------------------------------------------

def test_crash_mid_write_keeps_old_file(tmp_path, monkeypatch):
    p = tmp_path / "ckpt.safetensors"
    lamina.save({"w": lamina.ones(100)}, p)
    before = p.read_bytes()

    calls = {"n": 0}
    real_write = serialization._write_to

    def crashing_write(f, head, chunks):
        f.write(head)  # part of the new file is on disk when the "crash" comes
        calls["n"] += 1
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(serialization, "_write_to", crashing_write)
    with pytest.raises(OSError, match="simulated"):
        lamina.save({"w": lamina.zeros(1000)}, p)
    assert calls["n"] == 1
    assert p.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]  # no temporary file left behind
    monkeypatch.setattr(serialization, "_write_to", real_write)
    _arrays_equal(np.ones(100, np.float32), lamina.load(p)["w"])


def test_crash_in_fsync_and_replace_keeps_old_file(tmp_path, monkeypatch):
    p = tmp_path / "ckpt.safetensors"
    lamina.save({"w": lamina.ones(4)}, p)
    before = p.read_bytes()
    for name in ("fsync", "replace"):
        with monkeypatch.context() as m:
            def boom(*a, **k):
                raise KeyboardInterrupt  # not an Exception: cleanup must still run
            m.setattr(serialization.os, name, boom)
            with pytest.raises(KeyboardInterrupt):
                lamina.save({"w": lamina.zeros(4)}, p)
        assert p.read_bytes() == before
        assert os.listdir(tmp_path) == ["ckpt.safetensors"]


def test_save_uses_fsync_and_replace(tmp_path, monkeypatch):
    seen = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(serialization.os, "fsync", lambda fd: (seen.append("fsync"),
                                                               real_fsync(fd))[1])
    monkeypatch.setattr(serialization.os, "replace", lambda a, b: (seen.append("replace"),
                                                                   real_replace(a, b))[1])
    lamina.save({"w": lamina.ones(2)}, tmp_path / "a.safetensors")
    assert seen[:2] == ["fsync", "replace"]


def test_save_overwrites_and_missing_directory(tmp_path):
    p = tmp_path / "x.safetensors"
    lamina.save({"a": lamina.ones(2)}, p)
    lamina.save({"b": lamina.zeros(3)}, str(p))
    assert list(lamina.load(str(p))) == ["b"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        lamina.save({"a": lamina.ones(2)}, tmp_path / "nope" / "x.safetensors")


# --- corrupted files -----------------------------------------------------------------------

def _header(p):
    raw = p.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n])


def _write_raw(p, header, data=b""):
    hb = json.dumps(header).encode() if not isinstance(header, bytes) else header
    p.write_bytes(struct.pack("<Q", len(hb)) + hb + data)


def test_missing_file(tmp_path):
    p = tmp_path / "missing.safetensors"
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        lamina.load(p)


@pytest.mark.parametrize("cut", [0, 5, 8, 20, -1, -7])
def test_truncated_file(tmp_path, cut):
    p = tmp_path / "t.safetensors"
    lamina.save({"a": lamina.ones(4, 4), "b": lamina.arange(3)}, p)
    raw = p.read_bytes()
    p.write_bytes(raw[:cut] if cut >= 0 else raw[:cut])
    with pytest.raises(ValueError, match=r"t\.safetensors"):
        lamina.load(p)


@pytest.mark.parametrize("header, data, match", [
    (b"{not json", b"", "not valid UTF-8 JSON"),
    (b"\xff\xfe{}", b"", "does not start with"),
    (b"[1, 2]", b"", "does not start with"),
    (b'{"a": 1}', b"", "not an object"),
    ({"a": {"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4,
     "unknown or unsupported dtype 'F33'"),
    ({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4,
     "invalid shape"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4,
     "ends at byte 8 of the data but the data has only 4 bytes"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4,
     "needs 8 bytes"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}, b"\0" * 4,
     "invalid data_offsets"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
      "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4,
     "overlapping tensors or a gap"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 8,
     "cover 4 bytes but the data has 8"),
    ({"__metadata__": {"lamina": "{bad"}}, b"", "structure metadata is invalid"),
    ({"__metadata__": {"lamina": json.dumps({"version": 1, "root": {"tensor": "zz"}})}}, b"",
     "does not contain"),
    ({"__metadata__": {"x": 1}}, b"", "string values"),
    ({"__metadata__": {"lamina": json.dumps({"version": "1", "root": 1})}}, b"",
     "is not an int"),
    ({"__metadata__": {"lamina": json.dumps({"version": 1, "root": {"dict": 5}})}}, b"",
     "structure metadata is invalid"),
    ({"__metadata__": {"lamina": json.dumps({"version": 1, "root": {"dict": [[[1], 2]]}})}},
     b"", "structure metadata is invalid"),
    ({"__metadata__": {"lamina": json.dumps({"version": 1, "root": {"set": []}})}}, b"",
     "unknown structure node kind 'set'"),
    ({"__metadata__": {"lamina": '{"version": 1, "root": ' + "[" * 100000 + "]" * 100000
                       + "}"}}, b"", "structure metadata is invalid"),
    (b'{"a":' * 100000 + b"1" + b"}" * 100000, b"", "not valid UTF-8 JSON"),
])
def test_corrupted_header(tmp_path, header, data, match):
    p = tmp_path / "c.safetensors"
    _write_raw(p, header, data)
    with pytest.raises(ValueError, match=match) as info:
        lamina.load(p)
    assert "c.safetensors" in str(info.value)


def test_huge_header_length(tmp_path):
    p = tmp_path / "h.safetensors"
    p.write_bytes(struct.pack("<Q", 2**63) + b"{}")
    with pytest.raises(ValueError, match="exceeds"):
        lamina.load(p)


def test_random_byte_corruption_raises_only_value_errors():
    buf = io.BytesIO()
    lamina.save({"state": {0: {"step": 3, "exp_avg": lamina.ones(3)}},
                 "groups": [{"lr": 0.1, "betas": (0.9, 0.99)}], "w": lamina.arange(4)}, buf)
    raw = buf.getvalue()
    r = np.random.default_rng(0)
    for _ in range(300):
        b = bytearray(raw)
        for pos in r.integers(0, len(b), size=r.integers(1, 4)):
            b[pos] = r.integers(0, 256)
        try:
            lamina.load(io.BytesIO(bytes(b)))
        except ValueError:
            pass


def test_not_a_safetensors_file(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("hello, this is just text and not a tensor file at all")
    with pytest.raises(ValueError, match=r"notes\.txt.*header length"):
        lamina.load(p)
    p.write_bytes(b"PK\x03\x04" + b"\0" * 100)  # a zip (torch.save's format)
    with pytest.raises(ValueError, match="notes.txt"):
        lamina.load(p)


def test_newer_format_version(tmp_path):
    p = tmp_path / "v.safetensors"
    _write_raw(p, {"__metadata__": {"lamina": json.dumps({"version": 99, "root": 1})}})
    with pytest.raises(ValueError, match="newer lamina"):
        lamina.load(p)


def test_foreign_dtypes_and_bf16(tmp_path):
    p = tmp_path / "f.safetensors"
    f16 = np.array([1.5, -2.0], np.float16)
    i32 = np.array([1, -2, 3], np.int32)
    bf16 = np.array([1.0, -3.5, 0.15625], np.float32)
    bf16_bits = (bf16.view(np.uint32) >> 16).astype("<u2")
    blobs = [("h", "F16", f16.astype("<f2").tobytes(), [2]),
             ("i", "I32", i32.astype("<i4").tobytes(), [3]),
             ("b", "BF16", bf16_bits.tobytes(), [3])]
    header, data = {}, b""
    for name, dt, blob, shape in blobs:
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [len(data),
                                                                       len(data) + len(blob)]}
        data += blob
    _write_raw(p, header, data)
    got = lamina.load(p)
    _arrays_equal(f16, got["h"])                  # float16 and int32 are lamina dtypes
    _arrays_equal(i32, got["i"])
    if hasattr(lamina, "bfloat16"):                 # kept as bfloat16 with ml_dtypes
        assert got["b"].dtype == lamina.bfloat16
        np.testing.assert_array_equal(got["b"].float().numpy(), bf16)
    else:
        _arrays_equal(bf16, got["b"])


def test_bfloat16_round_trip(tmp_path):
    pytest.importorskip("ml_dtypes")
    t = lamina.tensor([1.0, -3.5, 0.15625]).bfloat16()
    lamina.save({"t": t, "h": t.half(), "i": t.int()}, tmp_path / "b.pt")
    got = lamina.load(tmp_path / "b.pt")
    assert [got[k].dtype for k in "thi"] == [lamina.bfloat16, lamina.float16, lamina.int32]
    np.testing.assert_array_equal(got["t"].float().numpy(), t.float().numpy())


# --- interop with the safetensors package ---------------------------------------------------

def test_files_load_in_safetensors_package(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    p = tmp_path / "ours.safetensors"
    arrs = {"w": RNG.standard_normal((3, 4)).T, "b": np.arange(5), "m": np.array([True]),
            "s": np.array(2.0, np.float32), "e": np.zeros((0, 3), np.float32)}
    lamina.save({k: lamina.tensor(a) for k, a in arrs.items()}, p)
    got = st.load_file(str(p))
    assert set(got) == set(arrs)
    for k, a in arrs.items():
        assert got[k].dtype == a.dtype and got[k].shape == a.shape
        np.testing.assert_array_equal(got[k], a)
    # nested optimizer-like state too: the names are dotted paths
    lamina.save({"state": {0: {"step": 1, "exp_avg": lamina.ones(2)}}}, p)
    np.testing.assert_array_equal(st.load_file(str(p))["state.0.exp_avg"], np.ones(2))


def test_safetensors_package_files_load_in_lamina(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    p = tmp_path / "theirs.safetensors"
    arrs = {"w": RNG.standard_normal((3, 4)).astype(np.float32), "b": np.arange(5),
            "m": np.array([True, False]), "d": RNG.standard_normal((2, 2)),
            "s": np.array(1.25), "e": np.zeros((2, 0), np.int64),
            "u8": np.arange(3, dtype=np.uint8)}
    st.save_file(arrs, str(p), metadata={"format": "np"})
    got = lamina.load(p)
    assert set(got) == set(arrs)
    for k, a in arrs.items():
        _arrays_equal(a, got[k])           # uint8 is a lamina dtype: kept


# --- with real modules and optimizers -------------------------------------------------------

def test_checkpoint_resume_gives_identical_training(tmp_path):
    nn, optim = getattr(lamina, "nn", None), getattr(lamina, "optim", None)
    if nn is None or optim is None or not hasattr(optim, "Adam"):
        pytest.skip("lamina.nn / lamina.optim.Adam not available")
    r = np.random.default_rng(0)
    x = lamina.tensor(r.standard_normal((16, 3)).astype(np.float32))
    y = lamina.tensor(r.standard_normal((16, 2)).astype(np.float32))

    def make():
        lamina.manual_seed(0)
        m = nn.Linear(3, 2)
        return m, optim.Adam(m.parameters(), lr=0.01)

    def step(m, opt):
        opt.zero_grad()
        ((m(x) - y) ** 2).mean().backward()
        opt.step()

    model, opt = make()
    for _ in range(3):
        step(model, opt)
    p = tmp_path / "ckpt.safetensors"
    lamina.save({"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 3}, p)
    ckpt = lamina.load(p)
    assert ckpt["epoch"] == 3
    assert ckpt["optim"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert type(ckpt["optim"]["param_groups"][0]["params"][0]) is int
    model2, opt2 = make()
    model2.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["optim"])
    for _ in range(2):
        step(model, opt)
        step(model2, opt2)
    for (k, a), (_, b) in zip(model.state_dict().items(), model2.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)
