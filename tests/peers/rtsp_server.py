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
    ffprobe -rtsp_transport tcp -show_streams rtsp://porch:light@127.0.0.1:<port>/digest

A file for /file (H.264 in MP4, 1 s GOP, long enough for the benchmark; no B-frames, since
RTP carries no decode timestamps and clients such as ffmpeg complain about reordered frames):
    ffmpeg -f lavfi -i testsrc2=size=1280x720:rate=25 -t 600 -c:v libx264 -g 25 -bf 0 -pix_fmt yuv420p clip.mp4
"""

import argparse
import os
import signal
import sys

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
