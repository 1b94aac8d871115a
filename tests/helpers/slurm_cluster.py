"""A single-node SLURM cluster on loopback for the SLURM test (munged, slurmctld, slurmd).

The daemons are Debian's `munge slurmctld slurmd slurm-client` (installed by
tests/system_deps.sh). The settings are the minimal ones that work without cgroups or
accounting; `slurm.conf` must sit at /etc/slurm/slurm.conf
because the executor plugin drops SLURM_CONF inside jobs. Everything else (state, spool, logs,
pid files, munge socket and key) lives in a private folder. The daemons are stopped by their
process ids, and a slurm.conf that was there before is put back.

Run by hand: `python -m tests.helpers.slurm_cluster` starts a cluster, prints `sinfo`, and stops it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

SLURM_CONF = Path("/etc/slurm/slurm.conf")
DAEMONS = ("munged", "slurmctld", "slurmd")


def find_daemon(name: str) -> str | None:
    """Path of a daemon binary (Debian puts them in /usr/sbin, often not on a user's PATH)."""
    return shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/sbin") / name) if p.exists()), None
    )


def missing_reason() -> str | None:
    """Why a cluster cannot start here, or None when it can."""
    missing = [name for name in (*DAEMONS, "sbatch", "squeue", "scontrol") if not find_daemon(name)]
    if missing:
        return (
            f"SLURM daemons not installed ({', '.join(missing)} missing): "
            "run `bash tests/system_deps.sh` as root (Debian: slurmctld slurmd slurm-client munge)"
        )
    if os.geteuid() != 0:
        return "the SLURM test needs root: it writes /etc/slurm/slurm.conf and runs the daemons"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def real_memory_mb() -> int:
    """MemTotal in MiB, less a margin: slurmd drains a node that declares more than it has."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024 * 9 // 10
    raise RuntimeError("MemTotal not found in /proc/meminfo")


def slurm_conf(root: Path, host: str, cpus: int, memory_mb: int, ports: tuple[int, int]) -> str:
    """slurm.conf text: one node (this host, its real CPUs and memory), one default partition."""
    return "\n".join(
        [
            "ClusterName=loopback",
            f"SlurmctldHost={host}(127.0.0.1)",
            f"SlurmctldPort={ports[0]}",
            f"SlurmdPort={ports[1]}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            f"AuthInfo=socket={root / 'munge.socket'}",
            f"StateSaveLocation={root / 'state'}",
            f"SlurmdSpoolDir={root / 'spool'}",
            f"SlurmctldPidFile={root / 'slurmctld.pid'}",
            f"SlurmdPidFile={root / 'slurmd.pid'}",
            f"SlurmctldLogFile={root / 'slurmctld.log'}",
            f"SlurmdLogFile={root / 'slurmd.log'}",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            # No cgroups, no accounting database: the settings of DESIGN.md.
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            # Finished jobs stay visible to squeue/scontrol for 10 minutes (the status command).
            "MinJobAge=600",
            "ReturnToService=2",
            "MpiDefault=none",
            "SchedulerType=sched/backfill",
            f"NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN",
            "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
            "",
        ]
    )


class SlurmCluster:
    """Start with `start()`, stop with `stop()` (or use as a context manager).

    `root` is a private folder for state, spool, logs and the munge socket and key.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.host = socket.gethostname().split(".")[0]  # slurmd's node name is the short one
        self.cpus = os.cpu_count() or 1
        self.memory_mb = real_memory_mb()
        self.pids: dict[str, int] = {}
        self._previous_conf: str | None = None

    @property
    def controller_log(self) -> Path:
        return self.root / "slurmctld.log"

    def env(self) -> dict[str, str]:
        """Environment for client commands (sbatch, squeue) run by the caller."""
        return dict(os.environ, SLURM_CONF=str(SLURM_CONF))

    def start(self, timeout: float = 60) -> "SlurmCluster":
        for sub in ("state", "spool"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._write_conf()
        try:
            self._start_munge()
            self._start_daemon("slurmctld", ["-i"], self.root / "slurmctld.pid")
            self._start_daemon("slurmd", ["-N", self.host], self.root / "slurmd.pid")
            self._wait_node_idle(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _write_conf(self) -> None:
        if SLURM_CONF.exists():
            self._previous_conf = SLURM_CONF.read_text()
        SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
        ports = (free_port(), free_port())
        SLURM_CONF.write_text(slurm_conf(self.root, self.host, self.cpus, self.memory_mb, ports))

    def _start_munge(self) -> None:
        key = self.root / "munge.key"
        key.write_bytes(os.urandom(128))
        key.chmod(0o600)
        self._start_daemon(
            "munged",
            [
                "--force",
                f"--socket={self.root / 'munge.socket'}",
                f"--key-file={key}",
                f"--pid-file={self.root / 'munged.pid'}",
                f"--log-file={self.root / 'munged.log'}",
                f"--seed-file={self.root / 'munged.seed'}",
            ],
            self.root / "munged.pid",
        )

    def _start_daemon(self, name: str, args: list[str], pid_file: Path) -> None:
        """Run a daemon (they fork into the background) and read its pid from its pid file."""
        subprocess.run(
            [find_daemon(name), *args], check=True, env=self.env(), capture_output=True, text=True
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if pid_file.exists() and pid_file.read_text().strip():
                self.pids[name] = int(pid_file.read_text().split()[0])
                return
            time.sleep(0.2)
        raise RuntimeError(f"{name} wrote no pid file {pid_file}; see the logs in {self.root}")

    def _wait_node_idle(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            result = subprocess.run(
                ["sinfo", "-h", "-N", "-o", "%T"], env=self.env(), capture_output=True, text=True
            )
            state = (result.stdout + result.stderr).strip()
            if result.returncode == 0 and state in ("idle", "mixed", "allocated"):
                return
            time.sleep(1)
        log = self.controller_log.read_text()[-2000:] if self.controller_log.exists() else ""
        raise RuntimeError(f"SLURM node not idle after {timeout} s (state {state!r}):\n{log}")

    def stop(self) -> None:
        """Stop the daemons we started, by pid, slurmd first; restore the previous slurm.conf."""
        for name in reversed(DAEMONS):
            pid = self.pids.pop(name, None)
            if pid is not None:
                _terminate(pid)
        if self._previous_conf is not None:
            SLURM_CONF.write_text(self._previous_conf)
        elif SLURM_CONF.exists():
            SLURM_CONF.unlink()

    def __enter__(self) -> "SlurmCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _terminate(pid: int, timeout: float = 15) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    import tempfile

    reason = missing_reason()
    if reason:
        raise SystemExit(reason)
    with tempfile.TemporaryDirectory(prefix="slurm-") as tmp, SlurmCluster(tmp) as cluster:
        print(subprocess.run(["sinfo"], env=cluster.env(), capture_output=True, text=True).stdout)
        print("pids:", cluster.pids)
