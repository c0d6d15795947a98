"""How a failure becomes one line and an exit code, and whose fault it is (interp_cli.failures)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from interp_cli.errors import InterpError, UsageError, WeightsUnavailableError, cli_words
from interp_cli.failures import REQUIRED_MODULES, environment_error, reported


def test_environment_error_exit_codes():
    full = environment_error(OSError(errno.ENOSPC, "No space left on device"), "out.gif")
    assert type(full) is InterpError and full.exit_code == 1 and str(full).startswith("out.gif: ")
    big = environment_error(OSError(errno.EFBIG, "File too large"), "out.gif")
    assert big.exit_code == 1 and "file too large" in str(big)


def test_a_file_too_large_for_its_file_system_says_to_write_elsewhere_not_to_free_space():
    """EFBIG without a file-size limit on the process: the file system's largest file (FAT32's 4 GiB), which
    more free space does not change. (A process's limit: tests/test_outputs.py, through a real one.)"""
    resource = pytest.importorskip("resource")
    if resource.getrlimit(resource.RLIMIT_FSIZE)[0] != resource.RLIM_INFINITY:
        pytest.skip("this process has a file-size limit")
    big = environment_error(OSError(errno.EFBIG, "File too large"), "/mnt/usb/out.mp4")
    assert str(big) == "/mnt/usb/out.mp4: cannot write: file too large for its file system; write it elsewhere"
    denied = environment_error(OSError(errno.EROFS, "Read-only file system"), "out.gif")
    assert isinstance(denied, UsageError) and denied.exit_code == 2


def test_a_command_and_a_batch_row_tell_a_failure_alike():
    """One rule for `interp`'s stderr line and a batch row's error; a row's names its output where
    nothing else names a file. (The row used to advise the morph's options for any command, and the
    command line called a vanished input an internal error.)"""
    def told(err, command="morph", output=None):
        with cli_words():  # as the command says it; a Python caller's batch is told in keywords (below)
            error, internal = reported(err, command, output)
        return str(error), error.exit_code, internal

    assert told(MemoryError(), "align") == ("out of memory (try a smaller --size)", 1, False)
    assert told(MemoryError(), "encode") == ("out of memory", 1, False)
    assert told(MemoryError(), "batch", "out/x.gif") == ("out/x.gif: out of memory (try a smaller --batch-size "
                                                         "or --size)", 1, False)
    gone = FileNotFoundError(errno.ENOENT, "No such file or directory", "a.png")
    assert told(gone) == told(gone, "batch", "out/x.gif") == ("a.png: No such file or directory", 1, False)
    assert told(OSError(errno.ENOSPC, "No space left on device"), "batch", "out/x.gif")[:2] == (
        "out/x.gif: cannot write: no space left on device; free some space or write elsewhere", 1)
    # A file-size limit (ulimit -f, passed on to a Slurm job) is not lifted by freeing space: not advised.
    efbig, code = told(OSError(errno.EFBIG, "File too large"), "batch", "out/x.gif")[:2]
    assert code == 1 and efbig.startswith("out/x.gif: cannot write: file too large") and "free" not in efbig
    assert told(KeyError("k")) == ("internal error: KeyError: 'k'", 1, True)
    assert told(KeyError("k"), "batch", "x.gif") == ("x.gif: internal error: KeyError: 'k'", 1, True)
    assert told(UsageError("--steps: bad")) == ("--steps: bad", 2, False)
    offline = WeightsUnavailableError("ffhq: not downloaded", {"morph": "try --weights demo"})
    assert "try --weights demo" in told(offline)[0]
    assert str(reported(MemoryError(), "batch", "out/x.gif")[0]) == \
        "out/x.gif: out of memory (try a smaller batch_size or size)"


def test_a_gpu_out_of_memory_is_told_as_out_of_memory_not_as_a_bug():
    """torch raises a GPU's out of memory as `torch.OutOfMemoryError` (a RuntimeError, not a MemoryError)
    and Apple MPS as a plain RuntimeError: both used to be "internal error ... rerun with --debug"."""
    import torch

    from interp_cli.batch import _row_error

    cuda = torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.11 GiB total "
                                       "capacity; 77.50 GiB already allocated)")  # torch.OutOfMemoryError from 2.4
    mps = RuntimeError("MPS backend out of memory (MPS allocated: 17.79 GB, other allocations: 1.05 GB, "
                       "max allowed: 18.13 GB). Tried to allocate 256.00 MiB on private pool.")
    for err in (cuda, mps, RuntimeError("CUDA error: out of memory")):
        with cli_words():
            error, internal = reported(err, "morph")
        assert (str(error), error.exit_code, internal) == (
            "out of memory (try a smaller --batch-size or --size)", 1, False)
        assert str(_row_error(err, "out/x.mp4", Path("out"), [])) == (  # a Python caller's batch: keywords
            "out/x.mp4: out of memory (try a smaller batch_size or size)")
    assert str(reported(cuda, "encode")[0]) == "out of memory"
    assert reported(RuntimeError("shape mismatch"), "morph")[1]  # other RuntimeErrors stay bugs


def test_host_memory_the_cpu_allocator_cannot_get_is_told_as_out_of_memory():
    """torch's CPU allocator fails as a plain RuntimeError ("DefaultCPUAllocator: can't allocate memory"):
    a 1024 px --tune under `ulimit -v` was told as "internal error: RuntimeError: [enforce fail at ...]"."""
    import torch

    with pytest.raises(RuntimeError) as caught:
        torch.empty(10 ** 13)  # 40 TB: the allocator's own refusal, as the machine words it
    error, internal = reported(caught.value, "morph")  # as a Python caller is told (keywords)
    assert (str(error), error.exit_code, internal) == ("out of memory (try a smaller batch_size or size)", 1, False)


def test_out_of_memory_is_known_without_importing_torch():
    """failures.py is on the CLI's torch-free paths (--help, usage errors): it knows torch's errors by name."""
    import subprocess
    import sys

    code = ("import sys; from interp_cli.failures import reported; "
            "told = reported(RuntimeError('MPS backend out of memory'), 'align'); "
            "assert str(told[0]) == 'out of memory (try a smaller size)', told; "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_required_package_missing_from_this_python_is_said_with_the_line_that_installs_it(tmp_path):
    """`pip install --no-deps`, or imageio-ffmpeg removed since: a morph to MP4 failed as an "internal error:
    ModuleNotFoundError" (a bug, rerun with --debug). It is the environment's, and one line says how to fix it."""
    import configparser
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    setup = configparser.ConfigParser()
    setup.read(root / "setup.cfg")
    required = {line.split(">")[0].split("=")[0].strip()
                for line in setup["options"]["install_requires"].split("\n") if line.strip()}
    assert set(REQUIRED_MODULES.values()) == required  # every install_requires entry, and only those

    (tmp_path / "sitecustomize.py").write_text(
        "import sys\nclass _Gone:\n    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'imageio_ffmpeg':\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, _Gone())\n")
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=f"{tmp_path}{os.pathsep}{root}")
    done = subprocess.run([sys.executable, "-m", "interp_cli", str(root / "examples/demo_a.png"),
                           str(root / "examples/demo_b.png"), "--weights", "demo", "--steps", "3", "-q", "-o", "m.mp4"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == (f"interp: error: imageio-ffmpeg is not installed in this Python, and interp needs "
                                   f"it: {sys.executable} -m pip install imageio-ffmpeg")
    assert not (tmp_path / "m.mp4").exists()


_UNDER_A_LIMIT = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (300 * 2 ** 20, resource.getrlimit(resource.RLIMIT_AS)[1]))
from interp_cli.failures import reported
try:
    import torch
except BaseException as err:
    print(reported(err, "morph")[0])
else:
    print("torch loaded")
"""


def test_an_address_space_limit_that_torch_cannot_load_under_is_named_not_told_as_a_bug(tmp_path):
    """`ulimit -v` too small for torch itself: "internal error: ImportError: libtorch_cpu.so: failed to map segment
    from shared object (rerun with --debug ...)", or a MemoryError in torch's imports told "out of memory (try a
    smaller --batch-size or --size)", options that cannot make torch smaller. Now the limit is named, in the
    shell's words for `interp` (a real process under a real limit) and in Python's for a Python caller."""
    import os
    import resource
    import subprocess
    import sys

    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    if hard != resource.RLIM_INFINITY and hard < 300 * 2 ** 20:
        pytest.skip("this process's hard address-space limit is below the test's")
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root), HF_HUB_OFFLINE="1", INTERP_CACHE_DIR=str(tmp_path / "cache"),
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")  # numpy's OpenBLAS, loaded first, sizes buffers by them

    def limited():
        resource.setrlimit(resource.RLIMIT_AS, (300 * 2 ** 20, resource.getrlimit(resource.RLIMIT_AS)[1]))

    demo = root / "examples"
    done = subprocess.run([sys.executable, "-m", "interp_cli", demo / "demo_a.png", demo / "demo_b.png", "--weights",
                           "demo", "-o", tmp_path / "out.gif"], env=env, capture_output=True, text=True, timeout=300,
                          preexec_fn=limited)
    assert (done.returncode, done.stderr.splitlines()) == (1, [
        "interp: error: out of memory loading torch: this process may use only 300 MB of address space "
        "(ulimit -v is 307200); raise that limit"])
    assert not (tmp_path / "out.gif").exists()
    caller = subprocess.run([sys.executable, "-c", _UNDER_A_LIMIT], env=env, capture_output=True, text=True,
                            timeout=300)
    assert caller.stdout.strip() == ("out of memory loading torch: this process may use only 300 MB of address space "
                                     "(its RLIMIT_AS); raise that limit"), caller.stderr


def test_only_an_import_below_interps_own_frames_is_told_as_a_library_loading():
    """A library's import that runs out of memory is "out of memory loading torch"; a caller's module that runs a
    morph while it is imported (its `<module>` frame above interp's) must not be named as the library that failed."""
    import resource

    if resource.getrlimit(resource.RLIMIT_AS)[0] != resource.RLIM_INFINITY:
        pytest.skip("this process has an address-space limit, which the lines would name")

    def raised(code: str, **names) -> BaseException:
        try:
            exec(compile(code, "<module body>", "exec"), names)  # a code object run as a module's is "<module>"
        except MemoryError as err:
            return err
        raise AssertionError("nothing raised")

    def interp_calls(body):  # a function of interp's, running `body`
        namespace = {"__name__": "interp_cli.somewhere", "body": body}
        exec("def call():\n    body()\n", namespace)
        return namespace["call"]

    def exhausted():
        raise MemoryError()

    def library_import():
        exec(compile("exhausted()", "<torch/__init__.py>", "exec"), {"__name__": "torch", "exhausted": exhausted})

    loading = raised("call()", __name__="interp_cli.render", call=interp_calls(library_import))
    assert str(reported(loading, "morph")[0]) == "out of memory loading torch"
    caller = raised("call()", __name__="mypackage.jobs", call=interp_calls(exhausted))
    assert str(reported(caller, "morph")[0]) == "out of memory (try a smaller batch_size or size)"


_DESCRIPTOR_ADVICE = """
import errno, os, resource, sys
from interp_cli.errors import cli_words
from interp_cli.failures import environment_error
for soft, hard in [(1024, 4096), (1023, 1024), (8, 1024), (8, 512), (8, 8)]:  # hard limits only lowered
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    with cli_words():
        print(environment_error(OSError(errno.EMFILE, "Too many open files"), "m.mp4"))
    told = str(environment_error(OSError(errno.EMFILE, "Too many open files"), "m.mp4"))
    print(told)
    if "raise it: " in told:
        exec(told.split("raise it: ", 1)[1])  # the advice, run as a Python caller would
        print(resource.getrlimit(resource.RLIMIT_NOFILE))
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
from interp_cli.failures import descriptors_short
held = []
while descriptors_short() is None:  # files opened up to 3 short of the limit of 8: a child's 4 pipe ends do not fit
    held.append(os.open(os.devnull, os.O_RDONLY))
print(descriptors_short())
os.close(held.pop())
print(descriptors_short())
"""


def test_a_descriptor_limit_is_said_with_a_raise_that_works_at_each_bound():
    """EMFILE says the limit and how to raise it, at each of the advice's bounds (a real RLIMIT_NOFILE, set in a
    child): 1024 below 1024 and twice the limit from there (1023 is told 1024; 1024, 2048); a hard limit below what
    is advised named (the shell that set it cannot raise it) and, for a Python caller, the call that takes the
    limit as far as it goes, or none where it is there already. Each Python advice, run, raises the limit.
    Only test_write's morphs under a real `ulimit -n` (seconds each) saw these lines, or `descriptors_short`, which
    tells a failure that hides its OSError (imageio-ffmpeg's probe) that a child's pipes would not fit."""
    import subprocess
    import sys

    resource = pytest.importorskip("resource")
    if resource.getrlimit(resource.RLIMIT_NOFILE)[1] < 4096:
        pytest.skip("this process's hard descriptor limit is below 4096")
    done = subprocess.run([sys.executable, "-c", _DESCRIPTOR_ADVICE], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    head = "m.mp4: too many open files: this process may have only {} open at once"
    shell = head + " (ulimit -n is {}); raise it: `ulimit -n {}` in the shell that runs interp"
    python = head + " (its RLIMIT_NOFILE); raise it: resource.setrlimit(resource.RLIMIT_NOFILE, ({}, {}))"
    rest = "resource.getrlimit(resource.RLIMIT_NOFILE)[1]"
    hard_said = " (its hard limit, `ulimit -Hn`, is {}: run from a new shell, or ask for more)"
    assert done.stdout.splitlines() == [
        shell.format(1024, 1024, 2048), python.format(1024, 2048, rest), "(2048, 4096)",
        shell.format(1023, 1023, 1024), python.format(1023, 1024, rest), "(1024, 1024)",
        shell.format(8, 8, 1024), python.format(8, 1024, rest), "(1024, 1024)",
        shell.format(8, 8, 1024) + hard_said.format(512), python.format(8, 512, 512), "(512, 512)",
        shell.format(8, 8, 1024) + hard_said.format(8),
        head.format(8) + " (its RLIMIT_NOFILE); its hard limit is 8 too, which only a process started with more "
                         "can pass",
        "[Errno 24] Too many open files", "None",  # what a failure that hides its OSError (ffmpeg's probe) asks
    ]


def test_a_disk_full_over_quota_or_read_only_stops_a_batch_and_a_file_size_limit_does_not():
    """A batch stops at a row whose disk is full, over quota or read-only (every row after would fail alike); a
    file-size limit (a smaller output may fit), a permission (the row's own folder) or anything else is the row's
    alone. A batch retells the row's error in its own words, keeping the exit code and errno it is decided by; a
    stream (standard output) is named but is no file at fault (`path` None)."""
    from interp_cli.failures import retold, stops_a_batch

    for code in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        told = environment_error(OSError(code, os.strerror(code)), "out/x.gif")
        again = retold(told, f"row 3: {told}")
        assert stops_a_batch(told) and stops_a_batch(again), code
        assert (str(again), again.exit_code, again.errno, again.path) == (
            f"row 3: {told}", told.exit_code, code, "out/x.gif")
    for code in (errno.EFBIG, errno.EACCES, errno.EIO):
        assert not stops_a_batch(environment_error(OSError(code, os.strerror(code)), "out/x.gif")), code
    assert not stops_a_batch(UsageError("--steps: bad")) and not stops_a_batch(KeyError("k"))
    piped = environment_error(OSError(errno.ENOSPC, "No space left on device"), "standard output", at_fault=False)
    assert str(piped).startswith("standard output: cannot write: ") and piped.path is None
