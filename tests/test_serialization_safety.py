"""lamina.save / lamina.load when things go wrong: killed writers, permissions, special files,
damaged bytes, U64 values beyond int64."""

import json
import os
import stat
import struct
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import lamina

ROOT = Path(__file__).resolve().parents[1]
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file semantics")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _leftovers(directory: Path) -> list[str]:
    return sorted(n for n in os.listdir(directory) if "tmp" in n)


# --- interrupted saves ---------------------------------------------------------------------

@posix_only
def test_a_killed_save_leaves_a_temporary_file_the_next_save_removes(tmp_path):
    target = tmp_path / "ckpt.safetensors"
    lamina.save({"w": lamina.ones(10)}, target)
    before = target.read_bytes()
    # a writer that hangs after part of the new file is on disk, then is killed (SIGKILL)
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        import lamina
        from lamina import serialization
        def slow(f, head, chunks):
            f.write(head)
            f.flush()
            print("writing", flush=True)
            time.sleep(60)
        serialization._write_to = slow
        lamina.save({{"w": lamina.zeros(1000)}}, {str(target)!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        assert len(_leftovers(tmp_path)) == 1          # its temporary file, part-written
        proc.kill()
    finally:
        proc.wait()
    assert target.read_bytes() == before                # the old file is intact
    assert len(_leftovers(tmp_path)) == 1
    lamina.save({"w": lamina.full((10,), 2.0)}, target)  # the next save cleans up
    assert _leftovers(tmp_path) == []
    assert lamina.load(target)["w"].numpy().tolist() == [2.0] * 10


@posix_only
def test_only_lamina_temporaries_of_dead_writers_of_that_target_are_removed(tmp_path):
    target = tmp_path / "m.safetensors"
    dead, alive = _dead_pid(), os.getppid()
    stale = tmp_path / f".m.safetensors.lamina-tmp-{dead}-0123456789ab"
    busy = tmp_path / f".m.safetensors.lamina-tmp-{alive}-0123456789ab"   # still writing
    other = tmp_path / f".n.safetensors.lamina-tmp-{dead}-0123456789ab"   # another target
    users = [tmp_path / ".m.safetensors.tmp", tmp_path / "m.safetensors.lamina-tmp-1-x",
             tmp_path / f".m.safetensors.lamina-tmp-{dead}-notahexname"]
    for p in (stale, busy, other, *users):
        p.write_bytes(b"x")
    lamina.save({"a": lamina.ones(1)}, target)
    assert not stale.exists()
    for p in (busy, other, *users):
        assert p.exists(), p.name


@posix_only
def test_history_files_clean_up_after_killed_writers_too(tmp_path):
    from lamina.train import History

    dead = _dead_pid()
    stale = tmp_path / f".history.csv.lamina-tmp-{dead}-0123456789ab"
    stale.write_text("epoch\n")
    h = History()
    h.append({"epoch": 1, "loss": 0.5})
    h.to_csv(tmp_path / "history.csv")
    assert not stale.exists()


# --- permissions ---------------------------------------------------------------------------

@posix_only
def test_overwriting_keeps_the_permission_bits(tmp_path):
    p = tmp_path / "secret.safetensors"
    lamina.save({"a": lamina.ones(2)}, p)
    os.chmod(p, 0o600)
    lamina.save({"a": lamina.zeros(2)}, p)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    os.chmod(p, 0o640)
    from lamina.train import History
    q = tmp_path / "history.csv"
    q.write_text("")
    os.chmod(q, 0o604)
    History({"epoch": [1]}).to_csv(q)
    assert stat.S_IMODE(os.stat(q).st_mode) == 0o604


@posix_only
def test_a_new_file_gets_the_umask_mode(tmp_path):
    old = os.umask(0o027)
    try:
        lamina.save({"a": lamina.ones(2)}, tmp_path / "new.safetensors")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "new.safetensors").st_mode) == 0o640


def test_save_errors_name_the_users_path_not_the_temporary_file(tmp_path):
    d = tmp_path / "model.safetensors"
    d.mkdir()                                            # a directory where the file goes
    with pytest.raises(IsADirectoryError) as info:
        lamina.save({"a": lamina.ones(2)}, d)
    msg = str(info.value)
    assert "model.safetensors" in msg and ".model.safetensors." not in msg, msg
    assert _leftovers(tmp_path) == []


# --- special files -------------------------------------------------------------------------

@posix_only
def test_load_refuses_a_fifo_at_once(tmp_path):
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    result = {}

    def target():
        try:
            lamina.load(fifo)
        except Exception as e:  # noqa: BLE001 - the test inspects it
            result["error"] = e

    t = threading.Thread(target=target, daemon=True)
    start = time.perf_counter()
    t.start()
    t.join(5)
    if t.is_alive():   # blocked in open(): release it (a writer opens the pipe) and fail
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        t.join(5)
        pytest.fail("lamina.load blocked on a FIFO")
    assert time.perf_counter() - start < 5
    err = result["error"]
    assert isinstance(err, ValueError)
    assert "pipe.safetensors" in str(err) and "FIFO" in str(err)


def test_load_refuses_a_directory(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a directory"):
        lamina.load(tmp_path)


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="no /dev/null")
def test_load_refuses_a_device():
    with pytest.raises(ValueError, match=r"/dev/null.*device"):
        lamina.load("/dev/null")


# --- checksums -----------------------------------------------------------------------------

def _header(p):
    raw = p.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return n, json.loads(raw[8:8 + n])


def test_a_flipped_byte_fails_loudly_naming_file_and_tensor(tmp_path):
    p = tmp_path / "net.safetensors"
    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    lamina.save({"fc.weight": lamina.tensor(w), "fc.bias": lamina.zeros(3)}, p)
    n, header = _header(p)
    begin = header["fc.weight"]["data_offsets"][0]
    raw = bytearray(p.read_bytes())
    raw[8 + n + begin + 5] ^= 0x10                       # one bit of one float
    p.write_bytes(bytes(raw))
    with pytest.raises(ValueError) as info:
        lamina.load(p)
    msg = str(info.value)
    assert "net.safetensors" in msg and "'fc.weight'" in msg and "verify=False" in msg
    got = lamina.load(p, verify=False)                   # the opt-out reads it anyway
    assert got["fc.weight"].numpy().ravel()[1] != w.ravel()[1]


def test_checksums_are_strings_in_metadata_and_the_file_stays_standard(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    p = tmp_path / "ok.safetensors"
    lamina.save({"a": lamina.ones(2, 3), "b": lamina.arange(4)}, p, metadata={"k": "v"})
    _, header = _header(p)
    meta = header["__metadata__"]
    assert all(isinstance(v, str) for v in meta.values())
    sums = json.loads(meta["lamina_crc32"])
    assert set(sums) == {"a", "b"} and all(len(v) == 8 for v in sums.values())
    got = st.load_file(str(p))
    np.testing.assert_array_equal(got["a"], np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="reserved"):
        lamina.save({"a": lamina.ones(1)}, p, metadata={"lamina_crc32": "{}"})


def test_nested_state_is_checked_too(tmp_path):
    p = tmp_path / "opt.safetensors"
    lamina.save({"state": {0: {"step": 3, "exp_avg": lamina.ones(4)}}}, p)
    n, header = _header(p)
    name = next(k for k in header if k != "__metadata__")
    raw = bytearray(p.read_bytes())
    raw[8 + n + header[name]["data_offsets"][0]] ^= 1
    p.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="opt.safetensors.*damaged"):
        lamina.load(p)


def test_unreadable_checksums_are_a_value_error(tmp_path):
    p = tmp_path / "c.safetensors"
    lamina.save({"a": lamina.ones(2)}, p)
    n, header = _header(p)
    header["__metadata__"]["lamina_crc32"] = "[1, 2"
    hb = json.dumps(header).encode()
    p.write_bytes(struct.pack("<Q", len(hb)) + hb + p.read_bytes()[8 + n:])
    with pytest.raises(ValueError, match="checksums"):
        lamina.load(p)
    assert lamina.load(p, verify=False)["a"].numpy().tolist() == [1.0, 1.0]


# --- U64 ---------------------------------------------------------------------------------

def _u64_file(p, values):
    data = np.asarray(values, dtype="<u8").tobytes()
    hb = json.dumps({"u": {"dtype": "U64", "shape": [len(values)],
                           "data_offsets": [0, len(data)]}}).encode()
    p.write_bytes(struct.pack("<Q", len(hb)) + hb + data)


def test_u64_beyond_int64_raises_instead_of_wrapping(tmp_path):
    p = tmp_path / "u.safetensors"
    _u64_file(p, [1, 2**63 + 5])
    with pytest.raises(ValueError, match=r"'u'.*U64.*int64"):
        lamina.load(p)
    _u64_file(p, [1, 2**63 - 1])                          # fits: loads as int64
    got = lamina.load(p)["u"]
    assert got.dtype == lamina.int64 and got.numpy().tolist() == [1, 2**63 - 1]
