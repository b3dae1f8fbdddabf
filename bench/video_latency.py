"""Glass to glass: how far behind the host a viewer's picture is, and what a live show costs.

    .venv/bin/python bench/video_latency.py [--seconds 60] [--size 1280x720] [--fps 30]
        [--bitrate 2500k] [--warmup 6] [--no-default]

Starts `hawker serve` (SQLite, the in-process bus, free HTTP and RTMP ports) and pushes a
source to it over RTMP the way OBS does: ffmpeg's test pattern and a tone, in real time,
H.264 (x264, zerolatency, a keyframe a second) and AAC. Hawker passes it through (no
re-encode) into 1 s segments with a program date-time on each.

A real Chromium opens the viewer page, and every 250 ms the bench reads the program
date-time of the frame on screen (hls.js `playingDate`); "now" minus that is the latency.
The program date-time is the wall-clock time at which the encoder's frame reached the
server (hls.WallClock), so the figure spans encoder, RTMP, packaging, HTTP, the player's
buffer and decoding: glass to glass but for the camera and the screen. It prints p50 and
p95, and the CPU that the server side spent on the show while the viewer watched (the
`hawker serve` process and its ffmpeg children, from /proc/<pid>/stat), in % of one core.

The same run then measures the same source (the same encoder settings) through the plain
HLS setup one would start from: `ffmpeg -f hls -hls_time 2 -hls_list_size 5`, no other
tuning, written straight to a directory that a static file server serves, played by hls.js
with its defaults. Its playlist needs `-hls_flags program_date_time` for the latency to be
measurable at all; that flag changes nothing else. The encoder writes HLS itself there, so
that setup is spared the RTMP hop Hawker pays. ratio_vs_default_hls = its p50 / Hawker's.

The last line is JSON: latency_p50_s, latency_p95_s, cpu_pct_per_show,
ratio_vs_default_hls, and the rest of the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import imageio_ffmpeg  # type: ignore[import-untyped]  # the wheel ships no type hints

ROOT = Path(__file__).resolve().parent.parent
HAWKER = ROOT / ".venv" / "bin" / "hawker"
HLS_JS = ROOT / "src" / "hawker" / "web" / "static" / "vendor" / "hls.min.js"
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SAMPLE_S = 0.25

DEFAULT_PAGE = """<!doctype html>
<meta charset="utf-8"><title>plain ffmpeg HLS</title>
<video id="v" muted autoplay playsinline style="width:640px"></video>
<script src="hls.min.js"></script>
<script>
  var hls = new Hls();  // its defaults, as a first setup has them
  hls.loadSource("index.m3u8");
  hls.attachMedia(document.getElementById("v"));
  window.behind = function () {
    var d = hls.playingDate;
    return d ? (Date.now() - d.getTime()) / 1000 : null;
  };
  window.edge = function () { return hls.latency; };
  window.playing = function () {
    var v = document.getElementById("v");
    return !v.paused && v.readyState >= 3;
  };
</script>
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def encoder(args: argparse.Namespace, output: list[str]) -> subprocess.Popen[bytes]:
    """The source: test pattern and tone in real time, encoded as a streamer's OBS would."""
    gop = str(args.fps)  # a keyframe a second
    command = [
        # Real time from the first frame, as a camera delivers it (no initial burst).
        FFMPEG,
        "-hide_banner",
        "-loglevel",
        "error",
        "-re",
        "-readrate_initial_burst",
        "0",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={args.size}:rate={args.fps}",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-tune",
        "zerolatency",
        "-pix_fmt",
        "yuv420p",
        "-g",
        gop,
        "-keyint_min",
        gop,
        "-b:v",
        args.bitrate,
        "-maxrate",
        args.bitrate,
        "-bufsize",
        args.bitrate,
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        *output,
    ]
    return subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- CPU from /proc --------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(parent pid, own ticks, reaped children's ticks) of a process, None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    # After the name: state, ppid, ..., utime (14th field overall), stime, cutime, cstime.
    ppid, utime, stime, cutime, cstime = (int(fields[i]) for i in (1, 11, 12, 13, 14))
    return ppid, utime + stime, cutime + cstime


def _children(pid: int) -> dict[int, int]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _stat(int(entry.name))
        if stat is not None and stat[0] == pid:
            found[int(entry.name)] = stat[1]
    return found


@dataclass
class CpuMark:
    at: float
    own: int
    reaped: int
    children: dict[int, int]


def cpu_mark(pid: int) -> CpuMark:
    stat = _stat(pid)
    assert stat is not None, "the server is gone"
    return CpuMark(time.monotonic(), stat[1], stat[2], _children(pid))


def cpu_between(a: CpuMark, b: CpuMark) -> tuple[float, float]:
    """% of one core spent by the process and by its children between two marks."""
    wall = b.at - a.at
    own = b.own - a.own
    # Children still running count from their first mark (or their start); those that ended
    # in between were reaped into the parent's cutime.
    running = sum(t - a.children.get(pid, 0) for pid, t in b.children.items())
    children = running + b.reaped - a.reaped
    scale = 100 / CLOCK_TICKS / wall
    return own * scale, children * scale


# -- measuring in the browser ----------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


@dataclass
class Samples:
    behind: list[float]
    edge: list[float]  # hls.js's own figure: seconds behind the end of the playlist
    stalled: int
    total: int

    def p(self, q: float) -> float:
        return percentile(self.behind, q) if self.behind else float("nan")


def sample(page: Any, behind_js: str, edge_js: str, playing_js: str, seconds: float) -> Samples:
    behind: list[float] = []
    edge: list[float] = []
    stalled = total = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        tick = time.monotonic()
        value, to_edge, playing = page.evaluate(f"() => [{behind_js}, {edge_js}, {playing_js}]")
        total += 1
        if value is not None:
            behind.append(float(value))
        if isinstance(to_edge, (int, float)):
            edge.append(float(to_edge))
        if not playing:
            stalled += 1
        time.sleep(max(0.0, SAMPLE_S - (time.monotonic() - tick)))
    return Samples(behind, edge, stalled, total)


def wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            value = check()
            if value:
                return value
        time.sleep(0.2)
    raise SystemExit(f"no {what} within {timeout:.0f} s")


# -- Hawker ----------------------------------------------------------------------------------


@contextlib.contextmanager
def hawker(data_dir: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, int]]:
    port, rtmp = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAWKER_")}
    env.update(
        {
            "HAWKER_DATA_DIR": str(data_dir),
            "HAWKER_HOST": "127.0.0.1",
            "HAWKER_PORT": str(port),
            "HAWKER_RTMP_PORT": str(rtmp),
            "HAWKER_SECRET_KEY": secrets.token_urlsafe(16),
        }
    )
    log = (data_dir / "server.log").open("wb")
    proc = subprocess.Popen(
        [str(HAWKER), "serve", "--no-access-log"],
        env=env,
        cwd=data_dir,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: (
                proc.poll() is None
                and httpx.get(f"{base}/api/v1/shows", timeout=2).status_code == 200
            ),
            60,
            "server",
        )
        yield proc, base, rtmp
    finally:
        stop(proc, signal.SIGINT)
        log.close()


def live_show(base: str) -> tuple[int, str]:
    http = httpx.Client(base_url=f"{base}/api/v1", timeout=30)
    tag = uuid.uuid4().hex[:8]
    r = http.post(
        "/auth/signup",
        json={
            "email": f"host-{tag}@bench.test",
            "password": "on-air-now",
            "display_name": "Bench host",
            "host": True,
        },
    )
    r.raise_for_status()
    http.headers["Authorization"] = f"Bearer {r.json()['token']}"
    show = http.post("/shows", json={"title": "Glass to glass"}).json()
    http.post(f"/shows/{show['id']}/live").raise_for_status()
    key = http.get(f"/shows/{show['id']}/stream-key").json()["stream_key"]
    return int(show["id"]), str(key)


def measure_hawker(args: argparse.Namespace, browser: Any, tmp: Path) -> dict[str, Any]:
    data = tmp / "hawker"
    data.mkdir()
    with hawker(data) as (server, base, rtmp):
        show_id, key = live_show(base)
        source = encoder(args, ["-f", "flv", f"rtmp://127.0.0.1:{rtmp}/live/{key}"])
        page = browser.new_page(viewport={"width": 390, "height": 844})
        try:
            # The viewer joins a show that has been on for a while: a full live playlist.
            wait_for(
                lambda: httpx.get(f"{base}/hls/{show_id}/live.m3u8").text.count("#EXTINF") >= 6,
                60,
                "a full live playlist",
            )
            page.goto(f"{base}/shows/{show_id}")
            page.wait_for_function(
                "() => { const p = window.hawkerVideo && window.hawkerVideo.player;"
                " return !!p && p.behind() !== null && p.state === 'playing'; }",
                timeout=60_000,
            )
            time.sleep(args.warmup)
            before = cpu_mark(server.pid)
            got = sample(
                page,
                "window.hawkerVideo.player.behind()",
                "window.hawkerVideo.player.hls.latency",
                "window.hawkerVideo.player.state === 'playing'",
                args.seconds,
            )
            after = cpu_mark(server.pid)
            jumps = page.evaluate("() => window.hawkerVideo.player.jumps")
        finally:
            page.close()
            stop(source)
    server_pct, packager_pct = cpu_between(before, after)
    return {"samples": got, "server_pct": server_pct, "packager_pct": packager_pct, "jumps": jumps}


# -- the plain ffmpeg HLS setup --------------------------------------------------------------


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def end_headers(self) -> None:
        # As a static server does by default for a file that changes: no long caching.
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()


def measure_default(args: argparse.Namespace, browser: Any, tmp: Path) -> Samples:
    root = tmp / "default"
    root.mkdir()
    shutil.copy(HLS_JS, root / "hls.min.js")
    (root / "index.html").write_text(DEFAULT_PAGE)
    port = free_port()
    handler = functools.partial(_Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    source = encoder(
        args,
        [
            "-f",
            "hls",
            "-hls_time",
            "2",
            "-hls_list_size",
            "5",
            "-hls_flags",
            "program_date_time",
            str(root / "index.m3u8"),
        ],
    )
    page = browser.new_page()
    try:
        wait_for(
            lambda: (root / "index.m3u8").read_text().count("#EXTINF") >= 5,
            60,
            "a full default playlist",
        )
        page.goto(f"http://127.0.0.1:{port}/index.html")
        page.wait_for_function("() => window.behind() !== null && window.playing()", timeout=60_000)
        time.sleep(args.warmup)
        got = sample(page, "window.behind()", "window.edge()", "window.playing()", args.seconds)
        ahead = pdt_ahead(root)
        got.behind = [b + ahead for b in got.behind]
        return got
    finally:
        page.close()
        stop(source)
        httpd.shutdown()
        httpd.server_close()


def pdt_ahead(root: Path) -> float:
    """How far ffmpeg's program date-times run ahead of the real clock, in seconds.

    Its hls muxer stamps the first segment with the time the muxer started and counts on
    from there, which can be later than the first frame was read. A segment file is finished
    only after its last frame was read, so no segment can truly end after its file's last
    write; whatever the stamps say beyond that is added back to that setup's latency.
    """
    pdt: float | None = None
    duration = 0.0
    worst = 0.0
    for line in (root / "index.m3u8").read_text().splitlines():
        if line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            text = line.split(":", 1)[1].replace("Z", "+00:00")
            if text[-5] in "+-" and text[-3] != ":":
                text = text[:-2] + ":" + text[-2:]  # +0000 -> +00:00
            pdt = datetime.fromisoformat(text).timestamp()
        elif line.startswith("#EXTINF:"):
            duration = float(line.split(":", 1)[1].split(",")[0])
        elif line and not line.startswith("#") and pdt is not None:
            with contextlib.suppress(OSError):
                worst = max(worst, pdt + duration - (root / line).stat().st_mtime)
            pdt = None
    return worst


# -- the run ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="sampling time per setup")
    parser.add_argument("--warmup", type=float, default=6.0, help="playing before sampling")
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--bitrate", default="2500k")
    parser.add_argument(
        "--no-default", action="store_true", help="skip the plain ffmpeg HLS comparison"
    )
    args = parser.parse_args()
    if not HLS_JS.exists():
        raise SystemExit(f"{HLS_JS} is missing: run `make setup` (it installs hls.js from npm)")
    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is missing: `make browser` installs it")
    from playwright.sync_api import sync_playwright

    print(
        f"source: {args.size} at {args.fps} fps, H.264 {args.bitrate} + AAC, keyframe every 1 s;"
        f" {args.seconds:.0f} s of samples per setup, {os.cpu_count()} cores",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="hawker-video-bench-") as name, sync_playwright() as pw:
        tmp = Path(name)
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            ours = measure_hawker(args, browser, tmp)
            theirs = None if args.no_default else measure_default(args, browser, tmp)
        finally:
            browser.close()

    got: Samples = ours["samples"]
    if not got.behind:
        raise SystemExit("no latency samples: the viewer page never showed a frame's time")
    cpu = ours["server_pct"] + ours["packager_pct"]
    print(
        f"Hawker      p50 {got.p(0.5):5.2f} s   p95 {got.p(0.95):5.2f} s   "
        f"mean {statistics.fmean(got.behind):5.2f} s   not playing {got.stalled}/{got.total}"
        f" samples, {ours['jumps']} jumps to live"
    )
    print(
        f"            of which behind the playlist's end (hls.js): "
        f"p50 {percentile(got.edge, 0.5):.2f} s"
    )
    print(
        f"            server CPU {cpu:.1f}% of a core per live show "
        f"(hawker serve {ours['server_pct']:.1f}%, ffmpeg packager {ours['packager_pct']:.1f}%;"
        " one viewer)"
    )
    ratio = None
    figures: dict[str, Any] = {}
    if theirs is not None and theirs.behind:
        ratio = theirs.p(0.5) / got.p(0.5)
        print(
            f"ffmpeg HLS  p50 {theirs.p(0.5):5.2f} s   p95 {theirs.p(0.95):5.2f} s   "
            f"mean {statistics.fmean(theirs.behind):5.2f} s   not playing "
            f"{theirs.stalled}/{theirs.total} samples"
        )
        print(
            f"            of which behind the playlist's end (hls.js): "
            f"p50 {percentile(theirs.edge, 0.5):.2f} s"
        )
        print(f"            Hawker's picture is {ratio:.1f}x closer to live")
        figures = {
            "default_p50_s": round(theirs.p(0.5), 3),
            "default_p95_s": round(theirs.p(0.95), 3),
        }
    print(
        json.dumps(
            {
                "latency_p50_s": round(got.p(0.5), 3),
                "latency_p95_s": round(got.p(0.95), 3),
                "cpu_pct_per_show": round(cpu, 2),
                "ratio_vs_default_hls": round(ratio, 2) if ratio is not None else None,
                **figures,
                "server_cpu_pct": round(ours["server_pct"], 2),
                "packager_cpu_pct": round(ours["packager_pct"], 2),
                "samples": got.total,
                "not_playing_samples": got.stalled,
                "seconds": args.seconds,
                "size": args.size,
                "fps": args.fps,
            }
        )
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
