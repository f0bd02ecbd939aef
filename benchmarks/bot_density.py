"""How many recording bots a sitin worker process carries on this machine, and at what cost.

    .venv/bin/python benchmarks/bot_density.py                   # N = 1, 5, 10, 20, 30, 40
    .venv/bin/python benchmarks/bot_density.py --counts 20,30,40 --workers 2 --transcribed 0

For each N: fresh `sitin worker` processes (one by default) run N bots, created through the API of
a `sitin serve --no-worker` process; each bot is in its own room with two aiortc participants that
stream looping flite speech (benchmarks/density_participants.py: pre-encoded Opus, so senders cost
little). The participants live in a process of their own, so their CPU is not the workers'.
Bots record mp3 and transcribe nothing (`"transcription_settings": {"none": {}}`); extra rows
with the default offline transcription show its cost (`--transcribed`). `--turn-taking` gives
every room four participants looping a meeting of real human speech instead (four people taking
turns, one at a time, ~10 % overlap: tests/transcription/real_speech.py), the realistic load for
transcribing bots:

    .venv/bin/python benchmarks/bot_density.py --turn-taking --counts 0 --transcribed 4,8,12 \
        --workers 2

`--pin` gives the workers the first core to themselves and everything else (the API and rooms,
the participants, Janus) the other cores, so that what one core carries is measured without the
participants taking CPU from it (a worker is one process per core in production, and the meeting
runs elsewhere). Give the worker enough capacity for the step (`SITIN_WORKER_CAPACITY=100`) to
see where one core stops keeping up:

    SITIN_WORKER_CAPACITY=100 .venv/bin/python benchmarks/bot_density.py --pin --turn-taking \
        --counts 0 --transcribed 4,6,8

Figures, over a measuring window while every bot is in joined_recording:
- CPU %: the workers' utime+stime from /proc/<pid>/stat per wall second (100 % = one core), and
  by Python thread name when py-spy is installed (`py-spy dump`, taken before the window).
- RSS: the workers' resident memory (max over the window); per bot above the idle workers.
- dropped audio %: each participant's stream carries a quiet pilot tone (10 kHz for one, 11 kHz
  for the other, above flite's 8 kHz speech band); the tone's level in every 20 ms of the decoded
  recording, over the measuring window, shows how much of that participant's audio made it into
  the mix in its place.
- rec/meet: decoded recording length against the time the bot spent recording.
- senders late: the participants' own worst stall (if large, drops are not the bots' fault).
- delay p50/p90 s (transcribing): from the end of a stretch of speech to its utterance in
  `GET /transcript` (polled every ~0.5 s), over the window; growth s: the median delay of the
  window's last third of utterances less that of its first third. A worker that keeps up shows a
  flat delay; a growing backlog shows as growth that rises with the window (`--seconds`).
- end s: from "leave" to every bot ended; a transcribing bot first drains its backlog, so a
  growing backlog shows here.
Steps continue while the workers keep up (dropped audio <= 1 %); the first step that does not is
shown and ends the run for that platform (`--keep-going` runs every step all the same).

`--plain-serve` runs every step through `sitin serve` with no flags at all, as a user starts
it: the server's own bot workers (one per core, bots placed by each worker's capacity) carry
the bots, and the CPU and RSS are theirs:

    .venv/bin/python benchmarks/bot_density.py --plain-serve --counts 20 --transcribed 0

`--platforms room,janus` puts the same load into Janus VideoRoom meetings as well, step by step
beside sitin's own rooms in the same run (room step N, then Janus step N), and prints the two
side by side. The run then happens inside a private network namespace with a real Janus in it
(sitin.testing: the set-up the Janus tests use; needs root, `ip` and Debian's `janus`): every
process of the benchmark runs in the namespace, the participants publish their voices in a
VideoRoom each (Janus forwards them to the bot's subscriptions) and the bots' workers gather ICE
on the namespace's Janus-side address. Janus's own CPU is shown apart (janus%), as the
participants' is:

    .venv/bin/python benchmarks/bot_density.py --platforms room,janus --counts 5,10,20 \
        --transcribed 2,4
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import av
import httpx
import numpy as np
from density_participants import FRAME, PILOT_AMPLITUDE, PILOTS_HZ, RATE

from sitin.testing.janus import JANUS_API_HOST, JanusServer, janus_server
from sitin.testing.netns import network_namespace

SITIN = Path(sys.executable).with_name("sitin")
WORKER_CORES = {0}  # --pin: the workers' core
PARTICIPANTS = Path(__file__).with_name("density_participants.py")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
# `sitin worker` whose peer connections gather ICE on one address (argv[1]) only
WORKER_WITH_ICE_ON = (
    "import sys; from sitin.testing.netns import gather_ice_on; gather_ice_on(sys.argv.pop(1)); "
    "from sitin.cli import main; sys.argv[0] = 'sitin'; main()"
)


# ---- processes -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def cpu_by_thread(pid: int) -> dict[int, float]:
    """CPU seconds of each live thread of the process, by thread id."""
    seconds: dict[int, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            seconds[int(task.name)] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return seconds


def python_thread_names(pid: int) -> dict[int, str]:
    """Thread id -> Python thread name, from `py-spy dump` when py-spy is installed."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    try:
        dump = subprocess.run(
            [py_spy, "dump", "--pid", str(pid)],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return {
        int(tid): re.sub(r"_\d+$", "", name)
        for tid, name in re.findall(r'^Thread (\d+) \([^)]*\): "([^"]*)"', dump, re.MULTILINE)
    }


def rss_mb(pid: int) -> float:
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * PAGE_KB / 1024


def bot_worker_pids(serve_pid: int) -> list[int]:
    """The `sitin worker` processes a `sitin serve` started (its children)."""
    children = Path(f"/proc/{serve_pid}/task/{serve_pid}/children").read_text().split()
    pids = []
    for pid in map(int, children):
        with contextlib.suppress(FileNotFoundError):
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if b"worker" in command:
                pids.append(pid)
    return pids


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class Sitin:
    """`sitin serve --no-worker` (API, rooms) for the whole run; fresh `sitin worker` processes
    (bots, periodic jobs) for every step, so each step starts from an idle worker. With ``plain``
    it is `sitin serve` with no flags instead, restarted for every step: the bot workers it
    starts itself (one per core, bots placed by their capacity) carry the bots."""

    url: str
    env: dict[str, str]
    log_dir: Path
    plain: bool = False
    pinned: bool = False  # workers on WORKER_CORES, everything else on the other cores
    serve: subprocess.Popen | None = None
    workers: list[subprocess.Popen] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        data_dir: Path,
        log_dir: Path,
        outbound_hosts: str = "",
        *,
        plain: bool = False,
        pinned: bool = False,
    ) -> Sitin:
        port = free_port()
        env = {
            **os.environ,
            "SITIN_DATA_DIR": str(data_dir),
            "SITIN_SECRET_KEY": "bot-density-benchmark",
            "SITIN_HOST": "127.0.0.1",
            "SITIN_PORT": str(port),
            "SITIN_OUTBOUND_HOSTS": outbound_hosts,  # the Janus, as an operator would list it
        }
        if not plain:  # workers started and stopped per step: seen alive sooner
            env["SITIN_HEARTBEAT_INTERVAL"] = "2"
        sitin = cls(f"http://127.0.0.1:{port}", env, log_dir, plain, pinned)
        sitin._start_serve()
        return sitin

    def _start_serve(self) -> None:
        self.serve = subprocess.Popen(
            [str(SITIN), "serve"] if self.plain else [str(SITIN), "serve", "--no-worker"],
            env=self.env,
            stdout=(self.log_dir / "serve.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    break
            if self.serve.poll() is not None or time.monotonic() > deadline:
                self.serve.kill()
                raise RuntimeError(f"sitin serve did not start; see {self.log_dir / 'serve.log'}")
            time.sleep(0.1)

    def start_workers(
        self, count: int, max_bots_each: int, ice_address: str | None = None
    ) -> list[int]:
        """`count` worker processes taking at most `max_bots_each` bots (their peers gathering
        ICE on `ice_address` only, when given); returns their pids. Plain: a fresh `sitin serve`
        and the pids of the workers it started."""
        if self.plain:
            return self._restart_plain_serve()
        env = {**self.env, "SITIN_MAX_BOTS_PER_WORKER": str(max_bots_each)}
        sitin = [str(SITIN)]
        if ice_address is not None:
            sitin = [sys.executable, "-c", WORKER_WITH_ICE_ON, ice_address]
        for index in range(count):
            periodic = [] if index == 0 else ["--no-periodic"]
            self.workers.append(
                subprocess.Popen(
                    [*sitin, "worker", "--threads", "4", *periodic],
                    env=env,
                    stdout=(self.log_dir / f"worker-{index}.log").open("ab"),
                    stderr=subprocess.STDOUT,
                    preexec_fn=self.on_worker_cores,
                )
            )
        time.sleep(4.0)  # imports done, consumers polling: idle
        return [worker.pid for worker in self.workers]

    def on_worker_cores(self) -> None:
        if self.pinned:
            os.sched_setaffinity(0, WORKER_CORES)

    def _restart_plain_serve(self) -> list[int]:
        assert self.serve is not None
        stop_process(self.serve)
        self._start_serve()
        deadline = time.monotonic() + 60
        while not bot_worker_pids(self.serve.pid):
            if time.monotonic() > deadline:
                raise RuntimeError("sitin serve started no bot worker")
            time.sleep(0.2)
        time.sleep(4.0)  # imports done, consumers polling: idle
        return bot_worker_pids(self.serve.pid)

    def stop_workers(self) -> None:
        for worker in self.workers:
            stop_process(worker)
        self.workers = []

    def api_key(self) -> str:
        made = subprocess.run(
            [str(SITIN), "keys", "create", "--project", "default", "--name", "benchmark"],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return made.stdout.strip().splitlines()[-1]

    def stop(self) -> None:
        self.stop_workers()
        if self.serve is not None:
            stop_process(self.serve)


# ---- measuring ------------------------------------------------------------------------------


def decode(data: bytes) -> np.ndarray:
    with av.open(io.BytesIO(data)) as container:
        frames = [
            f.to_ndarray().reshape(len(f.layout.channels), -1)[0] for f in container.decode(audio=0)
        ]
    audio = np.concatenate(frames)
    return audio.astype(np.float32) / (32768 if audio.dtype == np.int16 else 1)


def pilot_coverage(audio: np.ndarray, pilot_hz: int) -> float:
    """Share of the pilot tone present in `audio`, 20 ms at a time (1.0 = nothing missing)."""
    windows = audio[: len(audio) // FRAME * FRAME].reshape(-1, FRAME)
    if len(windows) == 0:
        return 0.0
    hann = np.hanning(FRAME).astype(np.float32)
    spectrum = np.abs(np.fft.rfft(windows * hann, axis=1))
    bin_ = round(pilot_hz * FRAME / RATE)
    amplitude = spectrum[:, bin_] / (hann.sum() / 2)
    # opus + mp3 make the tone's level wobble (5th percentile ~0.75x where nothing is missing):
    # 60 % of it counts as fully there; a window with half a frame missing shows about half
    return float(np.mean(np.clip(amplitude / (0.6 * PILOT_AMPLITUDE), 0, 1)))


@dataclass
class Step:
    platform: str  # "room" (sitin's own rooms) or "janus"
    bots: int
    transcribed: bool
    cpu_percent: float
    serve_cpu_percent: float
    participants_cpu_percent: float
    rss_mb: float
    dropped_percent: float
    worst_dropped_percent: float
    recorded_ratio: float
    join_s: float
    end_s: float
    utterances: int
    # transcribing: end of speech -> in GET /transcript, over the window's utterances; and the
    # median of its last third less that of its first (a backlog growing shows as > 0)
    delay_p50_s: float
    delay_p90_s: float
    delay_growth_s: float
    thread_cpu_percent: dict[str, float]
    janus_cpu_percent: float = float("nan")  # the Janus server's own CPU (not the bots')
    sender_late_max_ms: float = float("nan")  # the participants' worst stall (not the bots')
    idle_rss_mb: float = float("nan")  # the worker(s) before the bots came
    rss_per_bot_mb: float = float("nan")

    @property
    def real_time(self) -> bool:
        return self.dropped_percent <= 1.0


class Benchmark:
    def __init__(
        self,
        sitin: Sitin,
        seconds: float,
        workers: int,
        keep_dir: Path | None = None,
        turn_taking: bool = False,
        janus: JanusServer | None = None,
    ) -> None:
        self.sitin = sitin
        self.janus = janus
        self.turn_taking = turn_taking
        self.pilots = PILOTS_HZ if turn_taking else PILOTS_HZ[:2]
        self.keep_dir = keep_dir
        self.seconds = seconds
        self.workers = workers
        self.api = httpx.Client(
            base_url=sitin.url, headers={"Authorization": f"Token {sitin.api_key()}"}, timeout=60
        )
        self._step = 0

    def states(self, bot_ids: list[str]) -> dict[str, dict]:
        return {bot_id: self.api.get(f"/api/v1/bots/{bot_id}").json() for bot_id in bot_ids}

    def wait_all(self, bot_ids: list[str], state: str, timeout_s: float) -> float:
        started = time.monotonic()
        while True:
            bots = self.states(bot_ids)
            if all(bot["state"] == state for bot in bots.values()):
                return time.monotonic() - started
            failed = [b for b in bots.values() if b["state"] in ("fatal_error", "ended")]
            if failed and state != "ended":
                raise RuntimeError(f"a bot failed: {failed[0]}")
            if time.monotonic() - started > timeout_s:
                raise RuntimeError(f"bots not all {state}: {[b['state'] for b in bots.values()]}")
            time.sleep(0.5)

    def note_new_utterances(self, bot_ids: list[str], seen: dict[tuple, float]) -> None:
        """When each utterance was first seen in GET /transcript, keyed by (bot, speaker, start,
        end): its end is its capture time (epoch ms), so seeing it later is its latency."""
        now = time.time()
        for bot_id in bot_ids:
            for u in self.api.get(f"/api/v1/bots/{bot_id}/transcript").json():
                end_ms = u["timestamp_ms"] + u["duration_ms"]
                seen.setdefault((bot_id, u["speaker_uuid"], u["timestamp_ms"], end_ms), now)

    def run(self, count: int, transcribed: bool, platform: str = "room") -> Step:
        self._step += 1
        ice_address = None
        if platform == "janus":
            assert self.janus is not None, "Janus rooms need a Janus"
            rooms = [str(self._step * 1000 + i) for i in range(count)]
            for room in rooms:
                self.janus.create_room(int(room), publishers=len(self.pilots) + 2)
            meeting_urls = [self.janus.meeting_url(room) for room in rooms]
            people = ["--janus", self.janus.namespace.server_address, self.janus.ws_url, *rooms]
            ice_address = self.janus.namespace.server_address
        else:
            rooms = [f"density-{self._step}-{i}" for i in range(count)]
            meeting_urls = [f"{self.sitin.url}/rooms/{room}" for room in rooms]
            people = [self.sitin.url, *rooms]
        worker_pids = self.sitin.start_workers(
            self.workers, max_bots_each=-(-count // self.workers), ice_address=ice_address
        )
        try:
            step = self._with_participants(count, transcribed, meeting_urls, people, worker_pids)
            step.platform = platform
            return step
        finally:
            self.sitin.stop_workers()
            if platform == "janus":
                for room in rooms:
                    self.janus.destroy_room(int(room))

    def _with_participants(
        self,
        count: int,
        transcribed: bool,
        meeting_urls: list[str],
        people: list[str],
        worker_pids: list[int],
    ) -> Step:
        idle_rss = sum(rss_mb(pid) for pid in worker_pids)
        participants = subprocess.Popen(
            [
                sys.executable,
                str(PARTICIPANTS),
                *(["--turn-taking"] if self.turn_taking else []),
                *people,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            if participants.stdout.readline().strip() != "ready":
                raise RuntimeError("participants did not join")
            step = self._measure(count, transcribed, meeting_urls, worker_pids, participants.pid)
            step.idle_rss_mb = idle_rss
            step.rss_per_bot_mb = (step.rss_mb - idle_rss) / count
            participants.stdin.close()
            report = json.loads(participants.stdout.readline() or "{}")
            step.sender_late_max_ms = report.get("sender_late_max_ms", float("nan"))
            return step
        finally:
            if not participants.stdin.closed:
                participants.stdin.close()
            try:
                participants.wait(timeout=30)
            except subprocess.TimeoutExpired:
                participants.kill()
                participants.wait()

    def _measure(
        self,
        count: int,
        transcribed: bool,
        meeting_urls: list[str],
        worker_pids: list[int],
        people_pid: int,
    ) -> Step:
        extra = {} if transcribed else {"transcription_settings": {"none": {}}}
        bot_ids = []
        for meeting_url in meeting_urls:
            response = self.api.post(
                "/api/v1/bots",
                json={
                    "meeting_url": meeting_url,
                    "bot_name": "Notetaker",
                    "recording_settings": {"format": "mp3"},
                    **extra,
                },
            )
            response.raise_for_status()
            bot_ids.append(response.json()["id"])
        join_s = self.wait_all(bot_ids, "joined_recording", timeout_s=60 + count)
        time.sleep(2.0)  # every connection up and streaming
        # thread names first: `py-spy dump` pauses a worker for a moment (outside the window)
        names = {tid: name for pid in worker_pids for tid, name in python_thread_names(pid).items()}
        time.sleep(1.0)

        def threads() -> dict[int, float]:
            return {tid: cpu for pid in worker_pids for tid, cpu in cpu_by_thread(pid).items()}

        janus_pids = [self.janus.process.pid] if self.janus and self.janus.process else []
        groups = (worker_pids, [self.sitin.serve.pid], [people_pid], janus_pids)
        cpu_before = [sum(cpu_seconds(pid) for pid in group) for group in groups]
        threads_before = threads()
        window_ms = [time.time() * 1000, 0.0]
        started = time.monotonic()
        peak_rss = 0.0
        seen: dict[tuple, float] = {}  # utterance -> when first seen (transcribing steps)
        if transcribed:
            self.note_new_utterances(bot_ids, seen)  # those from before the window: not timed
        before_window = set(seen)
        while time.monotonic() - started < self.seconds:
            peak_rss = max(peak_rss, sum(rss_mb(pid) for pid in worker_pids))
            if transcribed:
                self.note_new_utterances(bot_ids, seen)
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        window_ms[1] = time.time() * 1000
        # seconds from the end of speech until it was in the transcript, in the order spoken
        timed = sorted(
            (key[3], first_seen) for key, first_seen in seen.items() if key not in before_window
        )
        delays = [first_seen - end_ms / 1000 for end_ms, first_seen in timed]
        third = max(len(delays) // 3, 1)
        by_thread: dict[str, float] = {}
        for tid, seconds in threads().items():
            name = names.get(tid, "unnamed (native)")
            by_thread[name] = by_thread.get(name, 0.0) + seconds - threads_before.get(tid, 0.0)
        cpu = [
            100 * (sum(cpu_seconds(pid) for pid in group) - before) / elapsed
            for group, before in zip(groups, cpu_before, strict=True)
        ]

        for bot_id in bot_ids:
            self.api.post(f"/api/v1/bots/{bot_id}/leave").raise_for_status()
        end_s = self.wait_all(bot_ids, "ended", timeout_s=600)

        dropped, ratios, utterances = [], [], 0
        for bot_id in bot_ids:
            bot = self.api.get(f"/api/v1/bots/{bot_id}").json()
            times = {e["type"]: e["created_at"] for e in bot["events"]}
            in_meeting_s = _seconds_between(
                times["recording_permission_granted"], times["left_meeting"]
            )
            recording = self.api.get(f"/api/v1/bots/{bot_id}/recording").json()
            data = httpx.get(recording["url"], timeout=60).content
            if self.keep_dir is not None:
                (self.keep_dir / f"step{self._step}-{bot_id}.mp3").write_bytes(data)
            audio = decode(data)
            ratios.append(len(audio) / RATE / in_meeting_s)
            # the measuring window only: not connecting, not leaving
            offset_ms = recording["start_timestamp_ms"]
            steady = audio[
                int((window_ms[0] - offset_ms) * RATE / 1000) : int(
                    (window_ms[1] - offset_ms) * RATE / 1000
                )
            ]
            dropped += [100 * (1 - pilot_coverage(steady, hz)) for hz in self.pilots]
            if transcribed:
                utterances += len(self.api.get(f"/api/v1/bots/{bot_id}/transcript").json())
        return Step(
            platform="room",
            bots=count,
            transcribed=transcribed,
            cpu_percent=cpu[0],
            serve_cpu_percent=cpu[1],
            participants_cpu_percent=cpu[2],
            janus_cpu_percent=cpu[3] if janus_pids else float("nan"),
            rss_mb=peak_rss,
            dropped_percent=float(np.mean(dropped)),
            worst_dropped_percent=float(np.max(dropped)),
            recorded_ratio=float(np.mean(ratios)),
            join_s=join_s,
            end_s=end_s,
            utterances=utterances,
            delay_p50_s=_percentile(delays, 50),
            delay_p90_s=_percentile(delays, 90),
            # the last third of the window against the first: grows when the backlog does
            delay_growth_s=_percentile(delays[-third:], 50) - _percentile(delays[:third], 50),
            thread_cpu_percent={k: 100 * v / elapsed for k, v in by_thread.items() if v > 0},
        )


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _seconds_between(start: str, end: str) -> float:
    from sitin.core.timefmt import parse_wire

    return (parse_wire(end) - parse_wire(start)).total_seconds()


def print_table(steps: list[Step], workers: int, platform: str) -> None:
    print(
        f"\n{PLATFORM_NAMES[platform]}: {workers} worker process(es); CPU % of one core "
        "(200 % = both cores); RSS summed over the workers; MB/bot above the idle workers"
    )
    header = (
        f"{'bots':>4} {'transcribe':>10} {'worker CPU%':>11} {'per bot':>7} {'idle MB':>7} "
        f"{'RSS MB':>7} {'MB/bot':>6} {'dropped%':>8} {'worst%':>7} {'rec/meet':>8} "
        f"{'join s':>6} {'end s':>6} {'serve%':>6} {'people%':>7} {'janus%':>6} {'utts':>5} "
        f"{'delay p50/p90 s':>15} {'growth s':>8}"
    )
    print(header)
    print("-" * len(header))
    for s in steps:
        print(
            f"{s.bots:>4} {'offline' if s.transcribed else 'none':>10} {s.cpu_percent:>11.1f} "
            f"{s.cpu_percent / s.bots:>7.1f} {s.idle_rss_mb:>7.0f} {s.rss_mb:>7.0f} "
            f"{s.rss_per_bot_mb:>6.1f} {s.dropped_percent:>8.2f} {s.worst_dropped_percent:>7.2f} "
            f"{s.recorded_ratio:>8.3f} {s.join_s:>6.1f} {s.end_s:>6.1f} "
            f"{s.serve_cpu_percent:>6.1f} {s.participants_cpu_percent:>7.1f} "
            f"{s.janus_cpu_percent:>6.1f} {s.utterances if s.transcribed else '-':>5} "
            f"{f'{s.delay_p50_s:.2f}/{s.delay_p90_s:.2f}':>15} {s.delay_growth_s:>8.2f}"
        )
    keeping_up = [s.bots for s in steps if s.real_time and not s.transcribed]
    if keeping_up:
        print(f"\nlargest N in real time (<= 1 % audio lost), record only: {max(keeping_up)}")


PLATFORM_NAMES = {"room": "sitin's own rooms", "janus": "Janus VideoRoom"}


def bots_per_two_cores(steps: list[Step], transcribed: bool) -> float | None:
    """200 % over the worker CPU per bot of the largest step that kept up (None: none did).

    An estimate from the measured cost per bot; the steps themselves show where it holds."""
    kept_up = [s for s in steps if s.transcribed == transcribed and s.real_time]
    if not kept_up:
        return None
    largest = max(kept_up, key=lambda s: s.bots)
    return 200 / (largest.cpu_percent / largest.bots)


def print_side_by_side(steps: list[Step], platforms: list[str]) -> None:
    """Each step of every platform next to the same step in the others, as measured in this run."""
    print("\nside by side (same run, each Janus step right after the room step of the same N)")
    columns = "".join(f" | {name:>25}" for name in platforms)
    print(f"{'':>4} {'':>10}{columns}")
    header = f"{'bots':>4} {'transcribe':>10}" + " | CPU%/bot MB/bot dropped%" * len(platforms)
    if len(platforms) == 2:
        header += f" | {'CPU ' + platforms[1] + '/' + platforms[0]:>14}"
    print(header)
    print("-" * len(header))
    keys = sorted({(s.transcribed, s.bots) for s in steps})
    for transcribed, bots in keys:
        found = {s.platform: s for s in steps if (s.transcribed, s.bots) == (transcribed, bots)}
        row = f"{bots:>4} {'offline' if transcribed else 'none':>10}"
        for platform in platforms:
            s = found.get(platform)
            row += (
                f" | {s.cpu_percent / s.bots:>8.1f} {s.rss_per_bot_mb:>6.1f} "
                f"{s.dropped_percent:>8.2f}"
                if s
                else f" | {'-':>8} {'-':>6} {'-':>8}"
            )
        if len(platforms) == 2 and all(p in found for p in platforms):
            first, second = (found[p] for p in platforms)
            row += f" | {second.cpu_percent / first.cpu_percent:>14.2f}"
        print(row)
    print("\nbots per 2 cores (200 % / worker CPU per bot at the largest step that kept up):")
    for platform in platforms:
        own = [s for s in steps if s.platform == platform]
        figures = []
        for transcribed in (False, True):
            estimate = bots_per_two_cores(own, transcribed)
            what = "transcribing" if transcribed else "record-only"
            if any(s.transcribed == transcribed for s in own):
                figures.append(f"{what} {estimate:.0f}" if estimate else f"{what} none kept up")
        print(f"  {PLATFORM_NAMES[platform]}: " + ", ".join(figures))


def load_average() -> str:
    return "/".join(f"{load:.2f}" for load in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--counts", default="1,5,10,20,30,40", help="bot counts, record only")
    parser.add_argument("--transcribed", default="2", help="bot counts with offline transcription")
    parser.add_argument("--seconds", type=float, default=20.0, help="measuring window per step")
    parser.add_argument("--workers", type=int, default=1, help="worker processes sharing the bots")
    parser.add_argument(
        "--plain-serve",
        action="store_true",
        help="plain `sitin serve` (no flags) for every step: its own workers carry the bots "
        "(--workers is then how many it starts: one per core)",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="the workers on the first core, everything else on the others (what one core "
        "carries, the participants' CPU apart)",
    )
    parser.add_argument("--keep-recordings", type=Path, help="save every recording in this folder")
    parser.add_argument(
        "--turn-taking", action="store_true", help="four participants per room, real speech"
    )
    parser.add_argument(
        "--platforms", default="room", help="room, janus or room,janus (side by side)"
    )
    parser.add_argument(
        "--keep-going",
        action="store_true",
        help="run every step even after one did not keep up (for side-by-side figures on a "
        "loaded machine, where one stall of the participants can fail a step)",
    )
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",") if c and c != "0"]
    transcribed = [int(c) for c in args.transcribed.split(",") if c and c != "0"]
    platforms = [p for p in args.platforms.split(",") if p]
    if args.plain_serve:
        if platforms != ["room"]:
            parser.error("--plain-serve: sitin's own rooms only")
        args.workers = os.cpu_count() or 1
    if args.pin and (args.plain_serve or len(os.sched_getaffinity(0)) < 2):
        parser.error("--pin: needs 2 or more cores, and workers started by the benchmark")
    if not platforms or set(platforms) - set(PLATFORM_NAMES):
        parser.error(f"--platforms: a comma-separated list of {', '.join(PLATFORM_NAMES)}")
    print(f"command: {' '.join(sys.argv)}", flush=True)
    print(f"load average (1/5/15 min) before: {load_average()} on {os.cpu_count()} CPUs")
    if args.pin:  # this process and what it starts, except the workers (Sitin.on_worker_cores)
        os.sched_setaffinity(0, os.sched_getaffinity(0) - WORKER_CORES)
        others = sorted(os.sched_getaffinity(0))
        print(f"pinned: workers on CPU {sorted(WORKER_CORES)}, everything else on CPU {others}")
    with tempfile.TemporaryDirectory(prefix="sitin-density-") as tmp, contextlib.ExitStack() as run:
        janus = None
        if "janus" in platforms:
            namespace = run.enter_context(network_namespace())
            janus = run.enter_context(janus_server(namespace, Path(tmp) / "janus"))
            run.enter_context(namespace.entered())  # every process started from here is inside
        outbound_hosts = JANUS_API_HOST if janus else ""
        sitin = Sitin.start(
            Path(tmp) / "data", Path(tmp), outbound_hosts, plain=args.plain_serve, pinned=args.pin
        )
        steps: list[Step] = []
        try:
            bench = Benchmark(
                sitin, args.seconds, args.workers, args.keep_recordings, args.turn_taking, janus
            )
            plan = [(count, False) for count in counts] + [(count, True) for count in transcribed]
            behind: set[str] = set()  # platforms whose last record-only step did not keep up
            for count, transcribing in plan:
                for platform in platforms:
                    if platform in behind and not transcribing:
                        continue
                    step = bench.run(count, transcribing, platform)
                    steps.append(step)
                    print(_row_brief(step), flush=True)
                    if not step.real_time and not transcribing and not args.keep_going:
                        behind.add(platform)
        finally:
            sitin.stop()
        for platform in platforms:
            print_table([s for s in steps if s.platform == platform], args.workers, platform)
        if len(platforms) > 1:
            print_side_by_side(steps, platforms)
    print(f"\nload average (1/5/15 min) after: {load_average()} (a shared machine: noisy figures)")


def _row_brief(step: Step) -> str:
    threads = sorted(step.thread_cpu_percent.items(), key=lambda item: -item[1])
    return (
        f"{step.platform} N={step.bots} {'offline' if step.transcribed else 'none'}: "
        f"CPU {step.cpu_percent:.0f} %, "
        f"RSS {step.rss_mb:.0f} MB ({step.rss_per_bot_mb:.1f}/bot), "
        f"dropped {step.dropped_percent:.2f} % (senders late <= {step.sender_late_max_ms:.0f} ms); "
        "CPU % by thread: "
        + ", ".join(f"{name} {percent:.1f}" for name, percent in threads if percent >= 0.5)
    )


if __name__ == "__main__":
    main()
