#!/usr/bin/python3
"""RTSP test camera for Porchlight's end-to-end tests and benchmarks.

A small GStreamer RTSP server (GstRtspServer through PyGObject) that stands in for an IP camera.
It listens on 127.0.0.1 (or --address, only inside a test's own network namespace), on an
ephemeral port (or --port), and once it is listening prints exactly one
line to stdout:

    READY rtsp://127.0.0.1:<port>

Tests read that line to learn the port (see tests/src/rtsp.rs). Everything else goes to stderr.

Mount points:
    /h264     live H.264 (videotestsrc, x264enc zerolatency/ultrafast) + AAC audio
    /h265     live H.265 only, closed GOP (every keyframe is an IDR)
    /h265cra  live H.265 only, open GOP (keyframes after the first are CRA, not IDR)
    /h265late live H.265 only, closed GOP, each frame leaving after twice its frame interval:
              the stream's timestamps run at half the wall clock's speed, as from an encoder
              starved of CPU
    /digest   same as /h264, behind RTSP Digest auth (user "porch", password "light")
    /g711     live H.264 + PCMU (G.711 mu-law) audio
    /file     the MP4 given with --file, H.264 passed through without re-encoding, one shared
              media for all clients (for load benchmarks); only when --file is given
    /clock    live H.264 only, closed GOP (every keyframe an IDR), each frame drawn by this script
              and carrying the host's wall clock at capture as a block code (below); needs
              --width >= 256 and --height >= 80, else it is not offered

The /clock code. Each frame of /clock is drawn here (appsrc, I420) at the moment it is captured:
the host's wall clock then, in milliseconds since the Unix epoch, is written into the frame's
top-left corner as a grid of 16 x 16-pixel squares, 16 squares wide and 5 rows high (pixels
x 0..256, y 0..80), each square white (luma 235) for a 1 bit or black (luma 16) for a 0 bit,
bits most significant first, left to right:

    row 0 (y  0..16)  the marker 0xB38E (1011 0011 1000 1110), so a reader can tell a code from
                      anything else in a picture
    row 1 (y 16..32)  bits 47..32 of the time in ms
    row 2 (y 32..48)  bits 31..16
    row 3 (y 48..64)  bits 15..0
    row 4 (y 64..80)  the check: row 1 XOR row 2 XOR row 3

A reader takes the mean luma of the central 8 x 8 pixels of each square (threshold 128), checks
the marker and the check row, and reads the 48-bit number (tests/src/clockcode.rs for decoded
frames, tests/src/clockcode.js for a <video> in the browser). Squares of 16 pixels survive
x264 at the default 500 kbit/s. Below the code, the same time is drawn for people as
HH:MM:SS.mmm (UTC) in block digits, and a bar moves across the lower part so that frames
differ. The rest of the frame is mid-grey; chroma is neutral.

Live mounts build one pipeline per client (nothing is encoded until a client asks); pass
--shared to encode once for all clients instead. Stops on SIGTERM/SIGINT, and with
--exit-on-stdin-close also when its stdin reaches EOF (so a test that dies cannot leak it).

Exits with status 77 (and a reason on stderr) when this machine cannot run it.

Needs Debian's python3 with gi (the pyenv python3 has no gi) and these packages:
    gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
    gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-rtsp
    gir1.2-gst-rtsp-server-1.0 gir1.2-gstreamer-1.0 python3-gi

Run by hand:
    /usr/bin/python3 tests/peers/rtsp_server.py [--fps 15] [--width 320] [--height 240]
        [--gop-seconds 1] [--file clip.mp4] [--shared]
    ffprobe -rtsp_transport tcp -show_streams rtsp://127.0.0.1:<port>/h264
    ffmpeg -rtsp_transport tcp -i rtsp://127.0.0.1:<port>/clock -frames:v 1 clock.png
    ffprobe -rtsp_transport tcp -show_streams rtsp://porch:light@127.0.0.1:<port>/digest

A file for /file (H.264 in MP4, 1 s GOP, long enough for the benchmark; no B-frames, since
RTP carries no decode timestamps and clients such as ffmpeg complain about reordered frames):
    ffmpeg -f lavfi -i testsrc2=size=1280x720:rate=25 -t 600 -c:v libx264 -g 25 -bf 0 -pix_fmt yuv420p clip.mp4
"""

import argparse
import os
import signal
import sys
import threading
import time

# Exit status when this machine cannot run the server (no gi, no GstRtspServer typelib, or
# missing GStreamer elements): tests skip on it (automake's "skipped" code).
EXIT_UNAVAILABLE = 77

try:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtsp", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtsp, GstRtspServer
except (ImportError, ValueError) as e:
    print(f"rtsp_server: unavailable: {e} (run with Debian's /usr/bin/python3 and install "
          "python3-gi gir1.2-gst-rtsp-server-1.0)", file=sys.stderr, flush=True)
    sys.exit(EXIT_UNAVAILABLE)

DIGEST_USER = "porch"
DIGEST_PASSWORD = "light"


def log(msg):
    print(f"rtsp_server: {msg}", file=sys.stderr, flush=True)


def video_src(a):
    """Live raw test video at the requested size and rate."""
    return (
        f"videotestsrc is-live=true ! "
        f"video/x-raw,format=I420,width={a.width},height={a.height},framerate={a.fps}/1"
    )


def h264(a):
    gop = max(1, round(a.fps * a.gop_seconds))
    return (
        f"{video_src(a)} ! "
        f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} threads=1 bitrate=500 ! "
        f"video/x-h264,profile=constrained-baseline ! "
        f"rtph264pay name=pay0 pt=96 config-interval=-1"
    )


def h265(a, open_gop):
    gop = max(1, round(a.fps * a.gop_seconds))
    # format=I420 before x265enc: otherwise it may pick a 4:4:4 input and produce Rext profile.
    # repeat-headers: VPS/SPS/PPS before every keyframe (rtph265pay config-interval=-1 only adds
    # them before IDRs, not CRAs). pools/frame-threads: keep each encoder on about one core.
    opts = f"open-gop={1 if open_gop else 0}:repeat-headers=1:pools=1:frame-threads=1"
    return (
        f"{video_src(a)} ! "
        f"x265enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} bitrate=500 "
        f"option-string={opts} ! "
        f"video/x-h265,profile=main ! "
        f"rtph265pay name=pay0 pt=96 config-interval=-1"
    )


def h265_late(a):
    # identity sleeps in the streaming thread, so the live source is always late and stamps
    # each frame by its count (n / fps) while frames leave at fps / 2.
    sleep_us = round(2_000_000 / a.fps)
    return h265(a, open_gop=False).replace(
        video_src(a), f"{video_src(a)} ! identity sleep-time={sleep_us}", 1
    )


def aac():
    return (
        "audiotestsrc is-live=true volume=0.1 ! audioconvert ! audioresample ! "
        "audio/x-raw,rate=16000,channels=1 ! avenc_aac bitrate=32000 ! "
        "rtpmp4gpay name=pay1 pt=97"
    )


def pcmu():
    return (
        "audiotestsrc is-live=true volume=0.1 ! audioconvert ! audioresample ! "
        "audio/x-raw,rate=8000,channels=1 ! mulawenc ! rtppcmupay name=pay1"
    )


def file_passthrough(path):
    # Only the first video track; its H.264 is payloaded as it is (no decoding, no encoding).
    # gst-launch syntax: a double-quoted string with backslash escapes.
    loc = '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return (
        f"filesrc location={loc} ! qtdemux name=demux "
        f"demux.video_0 ! queue ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1"
    )


# The /clock block code: see the header. Square size, grid, marker and levels.
CLOCK_SQUARE = 16
CLOCK_COLUMNS = 16
CLOCK_ROWS = 5
CLOCK_MARKER = 0xB38E
CLOCK_WHITE = 235
CLOCK_BLACK = 16
CLOCK_GREY = 128
CLOCK_MIN_WIDTH = CLOCK_SQUARE * CLOCK_COLUMNS
CLOCK_MIN_HEIGHT = CLOCK_SQUARE * CLOCK_ROWS

# Block digits for the human-readable time: 3 x 5 cells per character, "1" = lit.
DIGITS = {
    "0": ("111", "101", "101", "101", "111"),
    "1": ("010", "110", "010", "010", "111"),
    "2": ("111", "001", "111", "100", "111"),
    "3": ("111", "001", "111", "001", "111"),
    "4": ("101", "101", "111", "001", "001"),
    "5": ("111", "100", "111", "001", "111"),
    "6": ("111", "100", "111", "101", "111"),
    "7": ("111", "001", "010", "010", "010"),
    "8": ("111", "101", "111", "101", "111"),
    "9": ("111", "101", "111", "001", "111"),
    ":": ("000", "010", "000", "010", "000"),
    ".": ("000", "000", "000", "000", "010"),
}
DIGIT_CELL = 3  # pixels per cell of a block digit


def clock_rows(ms):
    """The code's five rows of 16 bits for time `ms` (see the header)."""
    words = [(ms >> 32) & 0xFFFF, (ms >> 16) & 0xFFFF, ms & 0xFFFF]
    return [CLOCK_MARKER, *words, words[0] ^ words[1] ^ words[2]]


def round_up(n, m):
    return (n + m - 1) // m * m


class ClockFrames:
    """Draws the I420 frames of /clock at one size (GStreamer's default I420 strides)."""

    def __init__(self, width, height):
        self.width = width
        self.height = height
        self.y_stride = round_up(width, 4)
        self.c_stride = round_up(round_up(width, 2) // 2, 4)
        c_height = round_up(height, 2) // 2
        self.y_size = self.y_stride * round_up(height, 2)
        self.size = self.y_size + 2 * self.c_stride * c_height
        # Grey luma, neutral chroma: copied, then drawn over, for every frame.
        self.blank = bytes([CLOCK_GREY]) * self.y_size + bytes([128]) * (self.size - self.y_size)
        self.bar_top = CLOCK_MIN_HEIGHT + 6 * DIGIT_CELL + 16
        # One pixel line of each bit pattern, built once per code row as needed.
        self.white_square = bytes([CLOCK_WHITE]) * CLOCK_SQUARE
        self.black_square = bytes([CLOCK_BLACK]) * CLOCK_SQUARE

    def fill(self, frame, x, y, w, h, luma):
        w = max(0, min(w, self.width - x))
        line = bytes([luma]) * w
        for row in range(y, min(y + h, self.height)):
            start = row * self.y_stride + x
            frame[start:start + w] = line

    def draw(self, ms, n):
        frame = bytearray(self.blank)
        for r, word in enumerate(clock_rows(ms)):
            line = b"".join(
                self.white_square if word >> (CLOCK_COLUMNS - 1 - c) & 1 else self.black_square
                for c in range(CLOCK_COLUMNS)
            )
            for dy in range(CLOCK_SQUARE):
                start = (r * CLOCK_SQUARE + dy) * self.y_stride
                frame[start:start + len(line)] = line
        text = time.strftime("%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}"
        x = 0
        for ch in text:
            for cy, cells in enumerate(DIGITS[ch]):
                for cx, cell in enumerate(cells):
                    if cell == "1":
                        self.fill(
                            frame,
                            x + cx * DIGIT_CELL,
                            CLOCK_MIN_HEIGHT + 8 + cy * DIGIT_CELL,
                            DIGIT_CELL,
                            DIGIT_CELL,
                            CLOCK_WHITE,
                        )
            x += 4 * DIGIT_CELL
        if self.height > self.bar_top:
            bar_x = (n * 8) % max(1, self.width - 16)
            self.fill(frame, bar_x, self.bar_top, 16, self.height - self.bar_top, CLOCK_WHITE)
        return bytes(frame)


def clock_launch(a):
    gop = max(1, round(a.fps * a.gop_seconds))
    # Frames come from ClockFeeder; do-timestamp stamps each with the running time when it
    # leaves appsrc; a leaky queue of two keeps a stalled pipeline from showing old times.
    return (
        f"appsrc name=clocksrc is-live=true do-timestamp=true format=time "
        f"leaky-type=downstream max-buffers=2 "
        f"caps=video/x-raw,format=I420,width={a.width},height={a.height},framerate={a.fps}/1 ! "
        f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} threads=1 "
        f"bitrate=500 ! "
        f"video/x-h264,profile=constrained-baseline ! "
        f"rtph264pay name=pay0 pt=96 config-interval=-1"
    )


class ClockFeeder:
    """Pushes a frame every 1/fps seconds into one media's appsrc, drawn with the time it is
    taken, until the media is unprepared."""

    def __init__(self, appsrc, a):
        self.appsrc = appsrc
        self.fps = a.fps
        self.frames = ClockFrames(a.width, a.height)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, name="clock-feeder", daemon=True)

    def start(self):
        self.thread.start()

    def stop(self, *_):
        self.stopped.set()

    def run(self):
        start = time.monotonic()
        n = 0
        while not self.stopped.is_set():
            due = start + n / self.fps
            wait = due - time.monotonic()
            if wait > 0 and self.stopped.wait(wait):
                break
            if wait < -1.0 / self.fps:
                # Fell behind (a stalled host): skip the missed frames instead of bursting.
                n = int((time.monotonic() - start) * self.fps)
            ms = time.time_ns() // 1_000_000
            data = self.frames.draw(ms, n)
            buf = Gst.Buffer.new_wrapped(data)
            ret = self.appsrc.emit("push-buffer", buf)
            if ret not in (Gst.FlowReturn.OK, Gst.FlowReturn.FLUSHING):
                log(f"/clock: push-buffer: {ret}")
                break
            n += 1


def clock_factory(a, shared):
    f = factory(clock_launch(a), shared)

    def configure(_factory, media):
        src = media.get_element().get_by_name("clocksrc")
        feeder = ClockFeeder(src, a)
        media.connect("unprepared", feeder.stop)
        feeder.start()

    f.connect("media-configure", configure)
    return f


def factory(launch, shared):
    f = GstRtspServer.RTSPMediaFactory()
    f.set_launch(f"( {launch} )")
    f.set_shared(shared)
    return f


def permissions(allow_anonymous_construct):
    """Everyone may see a mount (ACCESS, so no 404); anonymous may CONSTRUCT only if allowed."""
    p = GstRtspServer.RTSPPermissions()
    p.add_permission_for_role("user", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
    p.add_permission_for_role("user", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
    p.add_permission_for_role("anonymous", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
    p.add_permission_for_role(
        "anonymous", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, allow_anonymous_construct
    )
    return p


def make_auth():
    auth = GstRtspServer.RTSPAuth()
    auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
    anonymous = GstRtspServer.RTSPToken()
    anonymous.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "anonymous")
    auth.set_default_token(anonymous)
    user = GstRtspServer.RTSPToken()
    user.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
    auth.add_digest(DIGEST_USER, DIGEST_PASSWORD, user)
    return auth


def parse_args():
    p = argparse.ArgumentParser(description="RTSP test camera for Porchlight's tests")
    p.add_argument("--fps", type=int, default=15, help="frames per second (default 15)")
    p.add_argument("--width", type=int, default=320, help="video width (default 320)")
    p.add_argument("--height", type=int, default=240, help="video height (default 240)")
    p.add_argument(
        "--gop-seconds", type=float, default=1.0, help="seconds between keyframes (default 1)"
    )
    p.add_argument("--file", help="MP4 (H.264) to serve at /file without re-encoding")
    p.add_argument(
        "--port", type=int, default=0, help="port on 127.0.0.1 (default 0: an ephemeral one)"
    )
    p.add_argument(
        "--address",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; another only inside a test's namespace)",
    )
    p.add_argument(
        "--alias",
        action="append",
        default=[],
        help="serve /h264 under this path too (repeatable), e.g. the path an ONVIF mock names",
    )
    p.add_argument(
        "--shared", action="store_true", help="share each live mount's pipeline among clients"
    )
    p.add_argument(
        "--exit-on-stdin-close", action="store_true", help="quit when stdin reaches EOF"
    )
    a = p.parse_args()
    if a.fps <= 0 or a.width <= 0 or a.height <= 0 or a.gop_seconds <= 0:
        p.error("--fps, --width, --height and --gop-seconds must be positive")
    if a.file is not None and not os.path.isfile(a.file):
        p.error(f"--file {a.file}: no such file")
    return a


# The elements the pipelines below use, so that a missing plugin package shows at start-up
# rather than as a failed DESCRIBE later.
ELEMENTS = [
    "videotestsrc", "audiotestsrc", "audioconvert", "audioresample",  # plugins-base
    "rtph264pay", "rtph265pay", "rtpmp4gpay", "rtppcmupay", "mulawenc", "qtdemux",  # -good
    "h264parse", "x265enc",  # plugins-bad
    "appsrc",  # plugins-base (app)
    "identity",  # core
    "x264enc",  # plugins-ugly
    "avenc_aac",  # libav
]


def main():
    a = parse_args()
    Gst.init(None)
    missing = [e for e in ELEMENTS if Gst.ElementFactory.find(e) is None]
    if missing:
        log(f"unavailable: missing GStreamer elements: {' '.join(missing)}")
        return EXIT_UNAVAILABLE

    mounts = {
        **{alias: f"{h264(a)} {aac()}" for alias in a.alias},
        "/h264": f"{h264(a)} {aac()}",
        "/h265": h265(a, open_gop=False),
        "/h265cra": h265(a, open_gop=True),
        "/h265late": h265_late(a),
        "/digest": f"{h264(a)} {aac()}",
        "/g711": f"{h264(a)} {pcmu()}",
    }

    server = GstRtspServer.RTSPServer()
    server.set_address(a.address)
    server.set_service(str(a.port))
    # An auth object on the server applies to every mount, so each one carries permissions.
    server.set_auth(make_auth())
    table = server.get_mount_points()
    for path, launch in mounts.items():
        f = factory(launch, a.shared)
        f.set_permissions(permissions(allow_anonymous_construct=path != "/digest"))
        table.add_factory(path, f)
    if a.width >= CLOCK_MIN_WIDTH and a.height >= CLOCK_MIN_HEIGHT:
        f = clock_factory(a, a.shared)
        f.set_permissions(permissions(allow_anonymous_construct=True))
        table.add_factory("/clock", f)
    else:
        log(f"/clock not offered: it needs at least {CLOCK_MIN_WIDTH}x{CLOCK_MIN_HEIGHT}")
    if a.file is not None:
        f = factory(file_passthrough(os.path.abspath(a.file)), shared=True)
        # Like a live camera, not a file: with RFC 7273 clock signalling the media is not
        # seekable, so a client's PLAY (ffmpeg and retina send Range: npt=0.000-) does not
        # rewind the shared stream for every client already watching.
        f.set_publish_clock_mode(GstRtspServer.RTSPPublishClockMode.CLOCK_AND_OFFSET)
        f.set_permissions(permissions(allow_anonymous_construct=True))
        table.add_factory("/file", f)

    if server.attach(None) == 0:
        log(f"could not listen on {a.address}")
        return 1
    port = server.get_bound_port()

    loop = GLib.MainLoop()

    def quit_loop(*_):
        loop.quit()
        return GLib.SOURCE_REMOVE

    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, quit_loop)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, quit_loop)

    if a.exit_on_stdin_close:

        def on_stdin(channel, condition):
            if condition & (GLib.IOCondition.HUP | GLib.IOCondition.ERR):
                data = b""
            else:
                data = os.read(channel.unix_get_fd(), 4096)
            if not data:
                log("stdin closed, quitting")
                loop.quit()
                return GLib.SOURCE_REMOVE
            return GLib.SOURCE_CONTINUE

        stdin = GLib.IOChannel.unix_new(sys.stdin.fileno())
        GLib.io_add_watch(
            stdin,
            GLib.PRIORITY_DEFAULT,
            GLib.IOCondition.IN | GLib.IOCondition.HUP | GLib.IOCondition.ERR,
            on_stdin,
        )

    server.connect("client-connected", lambda _s, c: log(f"client {c.get_connection().get_ip()}"))

    print(f"READY rtsp://{a.address}:{port}", flush=True)
    loop.run()
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
