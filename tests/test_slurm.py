"""examples/slurm_array.sh on a real Slurm: a private one-node cluster started for this module.

Installs nothing: it runs where slurmctld, slurmd, munged and the client commands are on the PATH
(`.ci/run` installs Debian's slurm-wlm and munge) and the tests run as root (slurmd starts each job
as its user). Everything lives in a temp folder: the munge key and socket, slurm.conf on free ports,
the state and spool folders, the logs. The daemons are stopped by their PIDs at the end.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPT = EXAMPLES / "slurm_array.sh"
A, B = EXAMPLES / "demo_a.png", EXAMPLES / "demo_b.png"
SEARCH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
NEEDED = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "scontrol", "sinfo")


def _which(name: str) -> str | None:
    return shutil.which(name, path=SEARCH)


pytestmark = [
    pytest.mark.skipif(any(_which(n) is None for n in NEEDED),
                       reason="Slurm and munge are not installed (apt-get install slurm-wlm munge)"),
    pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                       reason="a private slurmd must run as root to start jobs"),
]


def _free_ports(count: int) -> list[int]:
    """`count` different ports free now. Each is only free when asked (the socket is closed before the daemon binds
    it), so another process may take one meanwhile: `slurm` then starts again on new ones (`_PORT_TRIES`)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:  # all held at once, so no two are the same
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


# Tries at starting the daemons on ports that were free: a busy suite (another test's server, a parallel run)
# can take one between the check and slurmctld's bind, which slurmctld reports as "Address already in use".
_PORT_TRIES = 3


def _wait(what: str, ready, timeout: float, logs=()) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p}:\n" + "\n".join(Path(p).read_text(errors="replace").splitlines()[-15:])
                              for p in logs if Path(p).exists())
            pytest.fail(f"{what} within {timeout:.0f} s\n{tails}")
        time.sleep(0.2)


class Cluster:
    """A running private Slurm: `run(cmd)` runs a client command against it."""

    def __init__(self, root: Path):
        self.root = root
        self.env = dict(os.environ, SLURM_CONF=str(root / "slurm.conf"), PATH=SEARCH)
        self.daemons: list[subprocess.Popen] = []

    def run(self, *args, cwd=None, env=None) -> str:
        done = subprocess.run([_which(args[0]), *map(str, args[1:])], cwd=cwd, env={**self.env, **(env or {})},
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{args}: {done.stderr}"
        return done.stdout

    def idle(self) -> bool:
        """Whether the node is up and idle; False while sinfo cannot reach slurmctld (starting, or its port was
        taken by another process, which `slurm` then finds in the log)."""
        done = subprocess.run([_which("sinfo"), "-h", "-o", "%T"], env=self.env, capture_output=True, text=True,
                              timeout=60)
        return done.returncode == 0 and done.stdout.strip() == "idle"

    def wait_jobs(self, timeout: float = 120) -> None:
        _wait("the jobs did not finish", lambda: not self.run("squeue", "-h").strip(), timeout,
              [self.root / "slurmd.log", self.root / "slurmctld.log"])

    def submit(self, *args, cwd: Path, env=None) -> str:
        """sbatch as a user types it; returns the job ID."""
        out = self.run("sbatch", *args, cwd=cwd, env=env)
        return re.fullmatch(r"Submitted batch job (\d+)\s*", out).group(1)


def _port_taken(logs) -> bool:
    """Whether slurmctld or slurmd said its port was taken ("Address already in use")."""
    return any(Path(p).exists() and "Address already in use" in Path(p).read_text(errors="replace") for p in logs[1:])


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    root = tmp_path_factory.mktemp("slurm")
    for folder in ("state", "spool"):
        (root / folder).mkdir()
    key = root / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    host = socket.gethostname().split(".")[0]
    conf_text = f"""\
ClusterName=interptest
SlurmctldHost={host}(127.0.0.1)
AuthType=auth/munge
AuthInfo=socket={root}/munge.sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
SlurmctldPort=@CTLD_PORT@
SlurmdPort=@SLURMD_PORT@
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
# The node may have fewer cores than declared: the script asks for 4 per task, two tasks at once.
SlurmdParameters=config_overrides
KillWait=10
MinJobAge=600
PlugStackConfig=/dev/null
NodeName={host} NodeAddr=127.0.0.1 CPUs=8 RealMemory=8000 State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""
    cluster = Cluster(root)
    logs = [root / "munged.log", root / "slurmctld.log", root / "slurmd.log"]
    try:
        cluster.daemons.append(subprocess.Popen(
            [_which("munged"), "-F", "--force", f"--key-file={key}", f"--socket={root}/munge.sock",
             f"--pid-file={root}/munged.pid", f"--log-file={root}/munged.log", f"--seed-file={root}/munged.seed"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        _wait("munged did not start", (root / "munge.sock").exists, 30, logs)
        conf = str(root / "slurm.conf")
        for attempt in range(1, _PORT_TRIES + 1):
            ctld_port, slurmd_port = _free_ports(2)
            (root / "slurm.conf").write_text(conf_text.replace("@CTLD_PORT@", str(ctld_port))
                                             .replace("@SLURMD_PORT@", str(slurmd_port)))
            started = []
            for daemon in (["slurmctld", "-D", "-i", "-f", conf], ["slurmd", "-D", "-f", conf, "-N", host]):
                started.append(subprocess.Popen([_which(daemon[0]), *daemon[1:]], env=cluster.env,
                                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            cluster.daemons.extend(started)
            _wait("the node did not come up idle", lambda started=started: any(d.poll() is not None for d in started)
                  or _port_taken(logs) or cluster.idle(), 60, logs)
            if all(d.poll() is None for d in started) and not _port_taken(logs):
                break
            if not _port_taken(logs) or attempt == _PORT_TRIES:
                said = "".join(Path(p).read_text(errors="replace") for p in logs[1:] if Path(p).exists())
                pytest.fail(f"a daemon exited\n{said[-3000:]}")
            for daemon in started:  # the other one too, by its PID; then again on new ports
                if daemon.poll() is None:
                    daemon.terminate()
                daemon.wait(timeout=30)
                cluster.daemons.remove(daemon)
            for log in logs[1:]:
                Path(log).unlink(missing_ok=True)
        yield cluster
    finally:
        if cluster.daemons and cluster.daemons[-1].poll() is None:
            subprocess.run([_which("scancel"), "--user", "root"], env=cluster.env, capture_output=True, timeout=30)
        for daemon in reversed(cluster.daemons):  # slurmd, slurmctld, munged: each by its PID
            if daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
                try:
                    daemon.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    daemon.kill()
                    daemon.wait()


def _env(tmp_path: Path, **extra) -> dict:
    """What a user exports before sbatch (the script's documented variables); sbatch passes it on."""
    return {"INTERP": f"{sys.executable} -m interp_cli", "WEIGHTS": "demo", "STEPS": "2", "EXTRA": "--no-align",
            "HF_HUB_OFFLINE": "1", "INTERP_CACHE_DIR": str(tmp_path / "cache"), **extra}


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


def test_the_array_script_as_documented_then_resubmitted_redone_and_requeued(slurm, tmp_path):
    names = [f"m{i}.gif" for i in range(1, 7)]
    (tmp_path / "pairs.csv").write_text("".join(f"{A},{B},{name}\n" for name in names))
    env = _env(tmp_path)

    job = slurm.submit("--array=1-3", SCRIPT, "pairs.csv", "out/", cwd=tmp_path, env=env)
    slurm.wait_jobs()
    out = tmp_path / "out"
    assert sorted(os.listdir(out)) == names  # every output, and no temp beside them
    for name in names:
        with Image.open(out / name) as gif:
            assert gif.n_frames == 2
    slices = {task: [r["row"] for r in _jsonl(tmp_path / f"logs/interp-{job}_{task}-0.jsonl")[:-1]]
              for task in (1, 2, 3)}
    assert slices == {1: [1, 4], 2: [2, 5], 3: [3, 6]}  # disjoint, and together every row once
    for task in (1, 2, 3):
        lines = (tmp_path / f"interp-batch-{job}_{task}.out").read_text().splitlines()
        assert lines[0].startswith(f"task {task}, attempt 0 on ") and len(lines) == 2
        assert lines[1].startswith(f"task {task}: all rows made or already there (")
        assert _jsonl(tmp_path / f"logs/interp-{job}_{task}-0.jsonl")[-1]["made"] == 2

    made = _mtimes(out)
    again = slurm.submit("--array=1-3", SCRIPT, "pairs.csv", "out/", cwd=tmp_path, env=env)
    slurm.wait_jobs()
    assert _mtimes(out) == made
    assert [_jsonl(tmp_path / f"logs/interp-{again}_{t}-0.jsonl")[-1]["skipped"] for t in (1, 2, 3)] == [2, 2, 2]

    for name in ("m2.gif", "m6.gif"):
        (out / name).unlink()
    redo = slurm.submit("--array=1-3", SCRIPT, "pairs.csv", "out/", cwd=tmp_path, env=env)
    slurm.wait_jobs()
    assert sorted(os.listdir(out)) == names
    remade = {name for name, mtime in _mtimes(out).items() if made.get(name) != mtime}
    assert remade == {"m2.gif", "m6.gif"}
    assert [_jsonl(tmp_path / f"logs/interp-{redo}_{t}-0.jsonl")[-1]["made"] for t in (1, 2, 3)] == [0, 1, 1]

    # Redo two tasks of the three with a list of indices, telling the script how many shards there were.
    for name in ("m3.gif", "m5.gif"):
        (out / name).unlink()
    listed = slurm.submit("--array=2,3", "--export=ALL,SHARDS=3", SCRIPT, "pairs.csv", "out/", cwd=tmp_path, env=env)
    slurm.wait_jobs()
    assert sorted(os.listdir(out)) == names
    assert {t: [r["row"] for r in _jsonl(tmp_path / f"logs/interp-{listed}_{t}-0.jsonl")[:-1]] for t in (2, 3)} \
        == {2: [2, 5], 3: [3, 6]}

    # A requeued task (as after a pre-emption) gets its own logs; Slurm's file is appended to.
    slurm.run("scontrol", "requeue", f"{job}_1")
    slurm.run("scontrol", "update", f"jobid={job}_1", "StartTime=now")  # a requeued job waits otherwise
    slurm.wait_jobs()
    assert _jsonl(tmp_path / f"logs/interp-{job}_1-1.jsonl")[-1]["skipped"] == 2
    assert _jsonl(tmp_path / f"logs/interp-{job}_1-0.jsonl")[-1]["made"] == 2  # the first attempt's, kept
    lines = (tmp_path / f"interp-batch-{job}_1.out").read_text().splitlines()
    attempts = [line.split(" on ")[0] for line in lines if ", attempt " in line]
    assert attempts == ["task 1, attempt 0", "task 1, attempt 1"]


def test_scancel_mid_row_leaves_no_temp_and_the_logs_say_stopped(slurm, tmp_path):
    (tmp_path / "pairs.csv").write_text(f"{A},{B},long1.mp4\n{A},{B},long2.mp4\n")
    env = _env(tmp_path, STEPS="3000", EXTRA="--no-align --size 256")  # a row of many seconds
    job = slurm.submit("--array=1-1", SCRIPT, "pairs.csv", "out/", cwd=tmp_path, env=env)
    out = tmp_path / "out"
    _wait("no temp appeared", lambda: out.is_dir() and any(n.startswith(".long1.tmp-") for n in os.listdir(out)), 120,
          [tmp_path / f"logs/interp-{job}_1-0.log"])
    slurm.run("scancel", job)
    slurm.wait_jobs()
    assert not out.exists()  # no temp, and the --outdir the task made for no row made is gone with it
    summary = _jsonl(tmp_path / f"logs/interp-{job}_1-0.jsonl")[-1]
    assert summary["summary"] and summary["stopped"] and summary["made"] == 0
    assert "interp: terminated" in (tmp_path / f"logs/interp-{job}_1-0.log").read_text()
    assert "task 1: stopped (exit 143" in (tmp_path / f"interp-batch-{job}_1.out").read_text()


def _task_states(slurm, job: str) -> dict[str, tuple[str, str]]:
    """Each record of an array as sacct would list it: {task ID: (state, exit code)}; the cancelled pending part
    of an array is one record, whatever its ID reads."""
    records = [dict(re.findall(r"(\w+)=(\S*)", line)) for line in slurm.run("scontrol", "-o", "show", "job", job)
               .splitlines()]
    return {r["ArrayTaskId"]: (r["JobState"], r["ExitCode"]) for r in records}


def test_a_usage_error_fails_its_own_task_with_exit_2_and_cancels_those_not_started(slurm, tmp_path):
    """Two rows with one output name, found by task 1 of an array run one task at a time: that task shows FAILED
    with exit code 2 (what sacct shows), the tasks not started are cancelled and never run. Before, the script
    cancelled the whole array, itself with it: the task that found the error read CANCELLED and its .out said
    "slurmstepd: error: *** JOB ... CANCELLED", as if someone had cancelled it."""
    (tmp_path / "pairs.csv").write_text(f"{A},{B},m1.gif\n{A},{B},M1.gif\n{A},{B},m3.gif\n")
    job = slurm.submit("--array=1-3%1", SCRIPT, "pairs.csv", "out/", cwd=tmp_path, env=_env(tmp_path))
    slurm.wait_jobs()
    states = _task_states(slurm, job)
    assert states.pop("1") == ("FAILED", "2:0")
    assert states and all(state == "CANCELLED" for state, _ in states.values())
    said = (tmp_path / f"interp-batch-{job}_1.out").read_text()
    assert "task 1: usage error: interp: error: pairs.csv: duplicate output names: m1.gif and M1.gif" in said
    assert "CANCELLED" not in said
    assert [p.name for p in tmp_path.glob("interp-batch-*.out")] == [f"interp-batch-{job}_1.out"]  # 2, 3 never ran
    assert not (tmp_path / "out").exists()


def test_the_scripts_own_usage_mistakes_are_told_in_words_that_work_with_it(slurm, tmp_path):
    """Under sbatch, the script's usage line named $0, Slurm's copy of it (`.../job00042/slurm_script`, gone when
    the task ended): it now names the file submitted, quoted for the shell. A redo list without SHARDS was told
    interp's own word, "pass --shard auto/N", which the script sets itself: it now also says SHARDS. A redo of one
    task without SHARDS (--array=5) was read as one worker and made every row; it is refused likewise."""
    (tmp_path / "pairs.csv").write_text(f"{A},{B},m1.gif\n{A},{B},m2.gif\n")
    mine = tmp_path / "my recipes" / "slurm array.sh"
    mine.parent.mkdir()
    shutil.copy(SCRIPT, mine)
    alone = slurm.submit("--array=1-1", mine, "pairs.csv", cwd=tmp_path, env=_env(tmp_path))  # no OUTDIR
    listed = slurm.submit("--array=2,5", SCRIPT, "pairs.csv", "out/", cwd=tmp_path, env=_env(tmp_path))  # no SHARDS
    one = slurm.submit("--array=5", SCRIPT, "pairs.csv", "out/", cwd=tmp_path, env=_env(tmp_path))
    slurm.wait_jobs()
    assert _task_states(slurm, one) == {"5": ("FAILED", "2:0")}
    said = (tmp_path / f"interp-batch-{one}_5.out").read_text().splitlines()[-1]
    assert said.startswith("task 5: usage error: interp: error: invalid value for '--shard': auto: Slurm task 5 is "
                           "its array's only task, which would make every row; ")
    assert "(this script passes --shard auto; for N shards submit with --export=ALL,SHARDS=N)" in said
    assert not (tmp_path / "out").exists()
    assert _task_states(slurm, alone) == {"1": ("FAILED", "2:0")}
    usage = (tmp_path / f"interp-batch-{alone}_1.out").read_text()
    assert usage == f"usage: sbatch --array=1-N {tmp_path}/my\\ recipes/slurm\\ array.sh MANIFEST.csv OUTDIR\n"
    states = _task_states(slurm, listed)
    ran = [task for task in (2, 5) if (tmp_path / f"interp-batch-{listed}_{task}.out").exists()]
    assert ran and all(states[str(task)] == ("FAILED", "2:0") for task in ran)  # a task still pending is cancelled
    for task in ran:
        said = (tmp_path / f"interp-batch-{listed}_{task}.out").read_text().splitlines()[-1]
        assert said.startswith(f"task {task}: usage error: interp: error: invalid value for '--shard': auto: ")
        assert "(this script passes --shard auto; for N shards submit with --export=ALL,SHARDS=N)" in said


def test_a_row_left_to_another_worker_is_not_said_to_be_made(slurm, tmp_path):
    """A second array on the same manifest and OUTDIR while the first still makes its row: the second skips the row
    as claimed elsewhere and exits 0. Its .out said "all rows made or already there" of a row not there yet, which
    the first then failed to finish (cancelled here); it now says the row was left to another worker."""
    (tmp_path / "pairs.csv").write_text(f"{A},{B},long.mp4\n")
    env = _env(tmp_path, STEPS="3000", EXTRA="--no-align --size 256")  # a row of many seconds
    first = slurm.submit("--array=1-1", SCRIPT, "pairs.csv", "out/", cwd=tmp_path, env=env)
    out = tmp_path / "out"
    _wait("no claim appeared", lambda: out.is_dir() and any(n.startswith(".long.claim-") for n in os.listdir(out)),
          120, [tmp_path / f"logs/interp-{first}_1-0.log"])
    second = slurm.submit("--array=1-1", SCRIPT, "pairs.csv", "out/", cwd=tmp_path, env=env)
    _wait("the second array did not end", lambda: _task_states(slurm, second)["1"][0] == "COMPLETED", 120,
          [tmp_path / f"logs/interp-{second}_1-0.log"])
    slurm.run("scancel", first)
    slurm.wait_jobs()
    assert not out.exists()  # the row was never made
    (row, summary) = _jsonl(tmp_path / f"logs/interp-{second}_1-0.jsonl")
    assert row["claimed_elsewhere"] and summary["skipped"] == 1
    said = (tmp_path / f"interp-batch-{second}_1.out").read_text().splitlines()[-1]
    assert said.startswith("task 1: rows made or already there, but 1 left to another worker making them just then")
    assert "all rows made" not in said
