"""Many people drawing at once on one digit studio server, through Streamlit's own websocket protocol.

How it measures: starts `streamlit run app.py` on a free port and opens one websocket per session on
/_stcore/stream, speaking the protocol the browser speaks (BackMsg and ForwardMsg protobufs of
`streamlit.proto`). A session opens the app as a browser does (a first run, then the run that the sidebar's
visitor component triggers with its token) and then, about every `--interval` s (jittered), draws its own
digit: it sends the rerun of the canvas's fragment that the browser sends on a stroke's pointer-up, with the
canvas state {"drawing": {"epoch", "strokes"}} (one real single-stroke drawing from drawn_dev.jsonl.gz,
points rounded to 0.1 px as the canvas does, width 18 as the Brush slider's default), reads the ForwardMsg
deltas of the run that follows until the run ends, finds the answer (the "Prediction" metric's value, or
the "not a digit" error or "Not sure" warning) and checks it against the drawing's label. About
0.4 s after the answer it presses Clear (the button's trigger, a second fragment rerun), then waits for its
next stroke. Sessions get different drawings, their digits cycling 0-9, each one that the app's default
model reads right when drawn alone (checked offline with digitlib before the run). Like a browser, a
session keeps the cacheable messages it has seen, tells the server their hashes and resolves the server's
references to them.

Reported: stroke end (the BackMsg sent) to answer (its delta received) and to the end of the run, p50, p95
and max; answers right, wrong and missing (the run ended without one) per session; strokes that started
late because their session was still waiting on the server (each session waits for its answer before
Clear, and for Clear before its next stroke: a closed loop, so a slow server lowers the stroke rate rather
than piling up requests); the server's CPU (user + system of the process and its children, from /proc)
over the load, per stroke (its Clear included) and as cores busy; its resident memory (VmRSS) idle, after
one warm-up session, with every session open, after the load and after the sessions close, and the memory
per open session; the time each session took to open (all open at once, after the warm-up session); lines
of the server log that mention a traceback or an error; this client's own CPU.

Not measured: the browser's work (rendering, the canvas, the JavaScript) and network latency (127.0.0.1);
the static files, health checks and the host-config request a browser makes when it loads the app; the
widget states the browser also sends for widgets left at their defaults (mode, source, brush, model), which
the server then takes as their defaults anyway. The answer is timed when its delta arrives, not painted.
Prints a line per session and, as its last line, one JSON object of all figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_strokes import (
    AppServer,
    Sample,
    app_model,
    cpu_seconds,
    finish,
    log_problems,
    read_samples,
    rounded,
    rss_mib,
    serving,
    spread,
    strokes_path,
)
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Delta_pb2 import Delta
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from digitlib.strokes import PEN_WIDTH

CLEAR_PAUSE_S = 0.4  # the time a person looks at the answer before pressing Clear
CLOSED_SETTLE_S = 3.0  # after the sessions close, before reading the server's memory again
NOT_A_DIGIT, NOT_SURE = "That doesn't look like a digit", "Not sure"


@dataclass
class Run:
    """One script run as a session saw it: its answer (None: none shown), when that came, when it ended."""

    answer: str | None = None
    answered_at: float | None = None
    ended_at: float = 0.0


@dataclass
class Stroke:
    """One stroke of a session: its answer, seconds from its end to the answer and to its run's end."""

    answer: str | None
    answer_s: float | None
    run_s: float
    late: bool  # it started after its time: the session was still waiting on the server


@dataclass
class Session:
    """One person on the Draw page, through Streamlit's websocket protocol, drawing a digit over and over."""

    url: str
    sample: Sample
    ws: ClientConnection | None = None
    # The page's hash and the ids of the fragment and widgets, as the server sends them.
    ids: dict[str, str] = field(default_factory=dict)
    widgets: dict[str, tuple[str, Any]] = field(default_factory=dict)  # id -> (WidgetState field, value)
    epoch: int = 0  # the canvas's epoch, as the server last sent it
    cache: dict[str, tuple[ForwardMsg, int]] = field(default_factory=dict)  # hash -> (message, run last seen)
    runs: int = 0
    max_age: int = 2  # runs the browser keeps a cached message it has not seen again (the server says)
    strokes: list[Stroke] = field(default_factory=list)
    clears_with_answer: int = 0
    open_s: float | None = None
    error: str | None = None

    async def open(self, timeout_s: float) -> None:
        """Connect and load the app as a browser does: a first run, then the visitor component's run."""
        started = time.monotonic()
        self.ws = await connect(
            f"{self.url.replace('http', 'ws', 1)}/_stcore/stream", subprotocols=["streamlit"], max_size=None
        )
        await self.send(fragment=False)
        await self.run(timeout_s)
        self.widgets[self.ids["visitor"]] = ("json_value", json.dumps({"token": uuid.uuid4().hex}))
        await self.send(fragment=False)
        await self.run(timeout_s)
        self.open_s = time.monotonic() - started

    async def close(self) -> None:
        """Close the websocket, as a closed browser tab does."""
        if self.ws is not None:
            await self.ws.close()

    async def draw(self, timeout_s: float, late: bool) -> Stroke:
        """Send the session's stroke as the canvas does on pointer-up and read the run that answers it."""
        points = [[round(x, 1), round(y, 1)] for x, y in self.sample.stroke]
        drawing = {"drawing": {"epoch": self.epoch, "strokes": [{"width": PEN_WIDTH, "points": points}]}}
        self.widgets[self.ids["canvas"]] = ("json_value", json.dumps(drawing, separators=(",", ":")))
        sent = await self.send(fragment=True)
        run = await self.run(timeout_s)
        answer_s = None if run.answered_at is None else run.answered_at - sent
        self.strokes.append(Stroke(run.answer, answer_s, run.ended_at - sent, late))
        return self.strokes[-1]

    async def clear(self, timeout_s: float) -> None:
        """Press Clear: its trigger in a rerun of the fragment; the run must show no answer."""
        await self.send(fragment=True, trigger=self.ids["clear"])
        run = await self.run(timeout_s)
        self.clears_with_answer += run.answer is not None

    async def send(self, fragment: bool, trigger: str | None = None) -> float:
        """Send a rerun request with the widget states a browser would send; when it was sent."""
        message = BackMsg()
        rerun = message.rerun_script
        for widget_id, (kind, value) in self.widgets.items():
            state = rerun.widget_states.widgets.add(id=widget_id)
            setattr(state, kind, value)
        if trigger:
            rerun.widget_states.widgets.add(id=trigger, trigger_value=True)
        rerun.page_script_hash = self.ids.get("page", "")
        if fragment:
            rerun.fragment_id = self.ids["fragment"]
        rerun.cached_message_hashes.extend(self.cache)
        rerun.context_info.timezone, rerun.context_info.locale = "UTC", "en-US"
        rerun.context_info.url = f"{self.url}/"
        await self.ws.send(message.SerializeToString())
        return time.monotonic()

    async def run(self, timeout_s: float) -> Run:
        """Read messages until a script run ends (one stopped early for a newer rerun does not count)."""
        run = Run()
        async with asyncio.timeout(timeout_s):
            while True:
                message = self.received(await self.ws.recv())
                kind = message.WhichOneof("type")
                if kind == "new_session" and message.new_session.HasField("config"):
                    self.max_age = message.new_session.config.max_cached_message_age
                elif kind == "navigation":
                    self.ids["page"] = message.navigation.page_script_hash
                elif kind == "delta" and message.delta.WhichOneof("type") == "new_element":
                    answer = self.element(message.delta)
                    if answer is not None and run.answer is None:
                        run.answer, run.answered_at = answer, time.monotonic()
                elif (
                    kind == "script_finished"
                    and message.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN
                ):
                    run.ended_at = time.monotonic()
                    self.forget_old_messages()
                    return run

    def received(self, data: bytes) -> ForwardMsg:
        """A message from the server, references to cached messages resolved, cacheable ones kept."""
        message = ForwardMsg()
        message.ParseFromString(data)
        if message.WhichOneof("type") == "ref_hash":
            message = self.cache[message.ref_hash][0]
        if message.metadata.cacheable:
            self.cache[message.hash] = (message, self.runs)
        return message

    def forget_old_messages(self) -> None:
        """Count a finished run; drop the cached messages no run has used for a while, as the browser does."""
        self.runs += 1
        for key, (_, last_run) in list(self.cache.items()):
            if self.runs - last_run > self.max_age:
                del self.cache[key]

    def element(self, delta: Delta) -> str | None:
        """Learn the ids an element carries; the answer it shows, if it is one."""
        element = delta.new_element
        kind = element.WhichOneof("type")
        if kind == "bidi_component" and element.bidi_component.id.endswith("-digit_canvas"):
            self.ids["canvas"], self.ids["fragment"] = element.bidi_component.id, delta.fragment_id
            self.epoch = json.loads(element.bidi_component.json)["epoch"]
        elif kind == "bidi_component" and element.bidi_component.id.endswith("-visitor"):
            self.ids["visitor"] = element.bidi_component.id
        elif kind == "button" and element.button.label == "Clear":
            self.ids["clear"] = element.button.id
        elif kind == "metric" and element.metric.label == "Prediction":
            return element.metric.body
        elif kind == "alert" and element.alert.body.startswith(NOT_A_DIGIT):
            return "not a digit"
        elif kind == "alert" and element.alert.body.startswith(NOT_SURE):
            return "not sure"
        return None

    def report(self) -> dict[str, Any]:
        """This session's figures."""
        answers = [stroke.answer for stroke in self.strokes]
        right = sum(answer == str(self.sample.label) for answer in answers)
        missing = answers.count(None)
        return {
            "sample": self.sample.index,
            "label": self.sample.label,
            "strokes": len(answers),
            "right": right,
            "wrong": len(answers) - right - missing,
            "missing": missing,
            "late": sum(stroke.late for stroke in self.strokes),
            "clears_with_answer": self.clears_with_answer,
            "open_s": rounded(self.open_s, 3),
            "error": self.error,
        }


async def person(session: Session, until: float, interval_s: float, jitter: float, timeout_s: float) -> None:
    """Draw the session's digit about every `interval_s` until `until`, pressing Clear after each answer."""
    rng = random.Random(session.sample.index)
    next_at = time.monotonic() + rng.uniform(0, interval_s)  # people do not start in step
    try:
        while next_at < until:
            late = time.monotonic() > next_at
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            drawn_at = time.monotonic()
            await session.draw(timeout_s, late)
            next_at = drawn_at + interval_s * rng.uniform(1 - jitter, 1 + jitter)
            await asyncio.sleep(max(0.0, min(CLEAR_PAUSE_S, next_at - time.monotonic())))
            await session.clear(timeout_s)
    except (TimeoutError, ConnectionClosed, KeyError) as error:
        session.error = f"{type(error).__name__}: {error}"


async def warm_up(server: AppServer, sample: Sample, timeout_s: float) -> Stroke:
    """One session that opens the app, draws, clears and leaves: the server loads the model and libraries."""
    session = Session(server.url, sample)
    await session.open(timeout_s)
    stroke = await session.draw(timeout_s, late=False)
    await session.clear(timeout_s)
    await session.close()
    return stroke


async def open_all(sessions: list[Session], timeout_s: float) -> None:
    """Open every session at once; a session that cannot open keeps its error and draws nothing."""

    async def opened(session: Session) -> None:
        """Open one session, keeping what went wrong."""
        try:
            await session.open(timeout_s)
        except (TimeoutError, ConnectionClosed, KeyError, OSError) as error:
            session.error = f"opening: {type(error).__name__}: {error}"

    await asyncio.gather(*(opened(session) for session in sessions))


async def watch_memory(pid: int, every_s: float, until: float) -> list[tuple[float, float | None]]:
    """The server's resident memory (MiB) every `every_s` seconds until `until`, by seconds from the start."""
    started, samples = time.monotonic(), []
    while time.monotonic() < until:
        samples.append((round(time.monotonic() - started, 1), rounded(rss_mib(pid))))
        await asyncio.sleep(every_s)
    return samples


async def load(server: AppServer, samples: list[Sample], args: argparse.Namespace) -> dict[str, Any]:
    """Warm up, open every session, let them draw for the duration, close them; every figure, by name."""
    pid = server.process.pid
    rss = {"idle": rss_mib(pid)}
    warm = await warm_up(server, samples[0], args.timeout)
    print(
        f"warm-up session: answered {warm.answer!r} for a {samples[0].label}, run ended in {warm.run_s:.2f} s"
    )
    rss["after_warm_up"] = rss_mib(pid)
    sessions = [Session(server.url, sample) for sample in samples]
    await open_all(sessions, args.timeout)
    rss["sessions_open"] = rss_mib(pid)
    cpu, client_cpu, started = cpu_seconds(pid), time.process_time(), time.monotonic()
    until = started + args.duration
    people = [
        person(session, until, args.interval, args.jitter, args.timeout)
        for session in sessions
        if not session.error
    ]
    memory, *_ = await asyncio.gather(watch_memory(pid, args.memory_every, until), *people)
    seconds = time.monotonic() - started
    cpu, client_cpu = cpu_seconds(pid) - cpu, time.process_time() - client_cpu
    rss["after_load"] = rss_mib(pid)
    await asyncio.gather(*(session.close() for session in sessions))
    await asyncio.sleep(CLOSED_SETTLE_S)
    rss["sessions_closed"] = rss_mib(pid)
    strokes = [stroke for session in sessions for stroke in session.strokes]
    per_session = [session.report() for session in sessions]
    totals = {
        key: sum(report[key] for report in per_session) for key in ("strokes", "right", "wrong", "missing")
    }
    return {
        "sessions": len(sessions),
        "sessions_failed": sum(session.error is not None for session in sessions),
        "duration_s": round(seconds, 1),
        "interval_s": args.interval,
        **totals,
        "late_strokes": sum(stroke.late for stroke in strokes),
        "strokes_per_s": round(len(strokes) / seconds, 2),
        "stroke_end_to_answer_ms": spread([1000 * s.answer_s for s in strokes if s.answer_s is not None]),
        "stroke_end_to_run_end_ms": spread([1000 * stroke.run_s for stroke in strokes]),
        "open_ms": spread([1000 * session.open_s for session in sessions if session.open_s is not None]),
        "server_cpu_s": round(cpu, 2),
        "server_cpu_ms_per_stroke_with_clear": rounded(1000 * cpu / len(strokes)) if strokes else None,
        "server_cores_busy": round(cpu / seconds, 2),
        "client_cpu_s": round(client_cpu, 2),
        "server_rss_mib": {key: rounded(value) for key, value in rss.items()},
        "rss_mib_per_open_session": rounded((rss["sessions_open"] - rss["after_warm_up"]) / len(sessions), 2),
        "server_rss_mib_during_load": memory,
        "warm_up_stroke": {
            "answer": warm.answer,
            "answer_ms": rounded(warm.answer_s and 1000 * warm.answer_s),
            "run_ms": rounded(1000 * warm.run_s),
        },
        "per_session": per_session,
    }


def describe(number: int, report: dict[str, Any]) -> str:
    """One session's line of the report."""
    counts = ", ".join(f"{report[key]} {key}" for key in ("right", "wrong", "missing", "late"))
    error = f", ERROR {report['error']}" if report["error"] else ""
    drawing = f"sample {report['sample']:>4}, a {report['label']}"
    return f"session {number:>2} ({drawing}): {report['strokes']} strokes, {counts}{error}"


def timing(spread_ms: dict[str, float | None]) -> str:
    """p50, p95 and max in words."""
    return ", ".join(f"{key} {value} ms" for key, value in spread_ms.items())


def summary(figures: dict[str, Any]) -> str:
    """The report's main figures, a few lines."""
    sessions = f"{figures['sessions']} sessions ({figures['sessions_failed']} failed)"
    counts = ", ".join(f"{figures[key]} {key}" for key in ("right", "wrong", "missing"))
    pace = f"{figures['strokes_per_s']}/s, {figures['late_strokes']} late"
    cpu = f"{figures['server_cpu_ms_per_stroke_with_clear']} ms per stroke (its Clear included)"
    rss, each = figures["server_rss_mib"], figures["rss_mib_per_open_session"]
    return "\n".join(
        [
            f"{sessions}, {figures['strokes']} strokes in {figures['duration_s']} s ({pace}): {counts}",
            f"stroke end -> answer {timing(figures['stroke_end_to_answer_ms'])}; "
            f"-> run end {timing(figures['stroke_end_to_run_end_ms'])}",
            f"server CPU {figures['server_cpu_s']} s: {cpu}, {figures['server_cores_busy']} cores busy; "
            f"this client {figures['client_cpu_s']} s",
            f"server RSS MiB: idle {rss['idle']}, after warm-up {rss['after_warm_up']}, sessions open "
            f"{rss['sessions_open']} ({each} each), after the load {rss['after_load']}, "
            f"sessions closed {rss['sessions_closed']}",
            f"{len(figures['server_log_problems'])} lines with Traceback or Error in the server log; "
            f"load average before and after {figures['load_average_1m']}",
        ]
    )


def main() -> None:
    """Parse the options, run the load and print its report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sessions", type=int, default=20, help="people drawing at once (default 20)")
    parser.add_argument("--duration", type=float, default=60, help="seconds of drawing (default 60)")
    parser.add_argument("--interval", type=float, default=1.5, help="seconds between a session's strokes")
    parser.add_argument("--jitter", type=float, default=0.3, help="each interval varies by up to this share")
    parser.add_argument("--drawings", type=Path, default=strokes_path(), help="drawn_dev.jsonl.gz")
    parser.add_argument("--out", type=Path, help="also write the JSON report there (for `digitlib report`)")
    parser.add_argument("--memory-every", type=float, default=5, help="seconds between memory readings")
    parser.add_argument("--timeout", type=float, default=60, help="seconds to wait for any one script run")
    args = parser.parse_args()
    if args.sessions < 1 or not 0 <= args.jitter < 1:
        parser.error("--sessions must be at least 1 and --jitter in [0, 1)")

    load_before = round(os.getloadavg()[0], 2)
    model = app_model()
    samples = read_samples(args.drawings, args.sessions, model)
    print(f"model {model}; {len(samples)} sessions, each drawing its own digit from {args.drawings}")
    with tempfile.TemporaryDirectory() as folder:
        with serving(Path(folder)) as server:
            figures = asyncio.run(load(server, samples, args))
        problems = log_problems(server.log)
    for number, report in enumerate(figures["per_session"]):
        print(describe(number, report))
    finish(figures | {"model": model}, problems, load_before, summary, args.out)


if __name__ == "__main__":
    main()
