#!/usr/bin/python3
"""A stand-in for a ring-mqtt bridge, for Porchlight's end-to-end tests and benchmarks.

ring-mqtt needs Ring's cloud, so it cannot run in a test. This script behaves the way its
source (tsightler/ring-mqtt: devices/base-ring-device.js, devices/camera.js, lib/mqtt.js,
lib/ring.js, lib/go2rtc.js) and documentation describe it, for the parts Porchlight reads:

MQTT (paho-mqtt, on the broker given with --broker-port, 127.0.0.1), QoS 1, nothing retained,
no last will:
    homeassistant/sensor/<loc>/<id>_info/config          discovery: device {ids, name, mf, mdl},
                                                         availability_topic .../status
    homeassistant/binary_sensor/<loc>/<id>_motion/config
    homeassistant/binary_sensor/<loc>/<id>_ding/config   doorbells only
    ring/<loc>/camera/<id>/status                        online / offline
    ring/<loc>/camera/<id>/motion/state                  ON / OFF, then .../motion/attributes
                                                         {"lastMotion": <unix s>, ...}
    ring/<loc>/camera/<id>/ding/state                    ON / OFF, then .../ding/attributes
                                                         {"lastDing": <unix s>, ...}
    ring/<loc>/camera/<id>/info/state                    {"stream_Source": "rtsp://.../<id>_live",
                                                         ...}, again every --info-interval
All of it is published when the MQTT connection is made and again --republish-delay seconds
after `online` arrives on homeassistant/status, hass/status or hassio/status (ring-mqtt waits
15 s and repeats the cycle 6 times, 30 s apart; once is enough here).

RTSP gateway (GStreamer's RTSP server in this process, in place of go2rtc), on 127.0.0.1 and an
ephemeral port: /<id>_live and /<id>_event for each device, H.264, one pipeline per client,
built only when a client asks (as the gateway starts a Ring stream only on demand). Each media
made or torn down prints a line to stdout:
    SESSION <path> open <n open on this path> <n open in all> <most ever open in all>
    SESSION <path> closed <n open on this path> <n open in all> <most ever open in all>

Once MQTT is connected and the first announcement is out, it prints
    READY rtsp://127.0.0.1:<port>
Commands, one per line on stdin (each answered on stdout):
    ding <id>                 a doorbell press: ding ON + attributes (OFF after --ding-duration)
                              prints DING <id> <unix ms at publication>
    motion <id>               motion ON + attributes (OFF after --motion-duration)
                              prints MOTION <id> <unix ms>
    status <id> online|offline
    crash                     exits at once with status 70, closing nothing (sockets reset;
                              ring-mqtt sets no last will, so the broker says nothing)
Stdin reaching EOF ends it (a test that dies cannot leak it). Exits 77 when paho-mqtt or
GStreamer's RTSP server is missing (Debian: python3-paho-mqtt, gir1.2-gst-rtsp-server-1.0,
python3-gi, gstreamer1.0-plugins-{base,good,ugly}).

Devices: --device <id>:<name>[:doorbell] (repeatable). With --watch TOPIC (repeatable, MQTT
filters) it also subscribes to them and prints, for each message, its arrival time:
    SEEN <topic> <unix ms>
(for benchmarks: how long after a ding the hub's doorbell event reaches the broker).
"""

import argparse
import json
import os
import sys
import threading
import time

EXIT_UNAVAILABLE = 77

try:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer
    import paho.mqtt.client as mqtt
except (ImportError, ValueError) as e:
    print(f"ring_mqtt: unavailable: {e} (Debian's /usr/bin/python3 with python3-gi, "
          "gir1.2-gst-rtsp-server-1.0 and python3-paho-mqtt)", file=sys.stderr, flush=True)
    sys.exit(EXIT_UNAVAILABLE)

out_lock = threading.Lock()


def say(line):
    with out_lock:
        print(line, flush=True)


def log(msg):
    print(f"ring_mqtt: {msg}", file=sys.stderr, flush=True)


def now_ms():
    return time.time_ns() // 1_000_000


class Device:
    def __init__(self, spec):
        parts = spec.split(":")
        if len(parts) < 2:
            raise SystemExit(f"--device {spec}: expected <id>:<name>[:doorbell]")
        self.id = parts[0]
        self.name = parts[1]
        self.doorbell = len(parts) > 2 and parts[2] == "doorbell"
        self.status = "online"
        self.ding = {"on": False, "last": 0, "until": 0.0}
        self.motion = {"on": False, "last": 0, "until": 0.0}


class Bridge:
    def __init__(self, a, rtsp_port):
        self.a = a
        self.rtsp_port = rtsp_port
        self.devices = {d.id: d for d in (Device(s) for s in a.device)}
        self.lock = threading.Lock()
        self.client = mqtt.Client(client_id=f"ring-mqtt-test-{os.getpid()}", clean_session=True)
        self.client.on_connect = self.on_connect
        self.client.on_message = self.on_message
        self.ready = threading.Event()

    def topic(self, d, rest):
        return f"{self.a.topic}/{self.a.location}/camera/{d.id}/{rest}"

    def pub(self, topic, payload):
        if isinstance(payload, (dict, list)):
            payload = json.dumps(payload)
        self.client.publish(topic, payload, qos=1, retain=False)

    def discovery(self, d):
        avail = self.topic(d, "status")
        dev = {"ids": [d.id], "name": d.name, "mf": "Ring",
               "mdl": "Doorbell Pro" if d.doorbell else "Stick Up Cam"}
        loc = self.a.location
        entities = [("sensor", "info", {"state_topic": self.topic(d, "info/state"),
                                         "json_attributes_topic": self.topic(d, "info/state")}),
                    ("binary_sensor", "motion", {"state_topic": self.topic(d, "motion/state"),
                                                 "device_class": "motion"})]
        if d.doorbell:
            entities.append(("binary_sensor", "ding", {"state_topic": self.topic(d, "ding/state"),
                                                       "device_class": "occupancy"}))
        for component, key, extra in entities:
            cfg = {"name": key.title(), "unique_id": f"{d.id}_{key}", **extra,
                   "availability_topic": avail, "payload_available": "online",
                   "payload_not_available": "offline", "device": dev}
            self.pub(f"homeassistant/{component}/{loc}/{d.id}_{key}/config", cfg)

    def info(self, d):
        self.pub(self.topic(d, "info/state"), {
            "stream_Source": f"rtsp://127.0.0.1:{self.rtsp_port}/{d.id}_live",
            "still_Image_URL": "https://localhost:8123/none",
            "firmwareStatus": "Up to Date",
            "lastUpdate": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        })

    def sensor(self, d, kind):
        s = d.ding if kind == "ding" else d.motion
        self.pub(self.topic(d, f"{kind}/state"), "ON" if s["on"] else "OFF")
        if kind == "ding":
            self.pub(self.topic(d, "ding/attributes"), {"lastDing": s["last"],
                                                        "lastDingTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(s["last"]))})
        else:
            self.pub(self.topic(d, "motion/attributes"), {"lastMotion": s["last"],
                                                          "lastMotionTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(s["last"])),
                                                          "personDetected": False})

    def publish_all(self):
        with self.lock:
            for d in self.devices.values():
                self.discovery(d)
            for d in self.devices.values():
                self.pub(self.topic(d, "status"), d.status)
                self.sensor(d, "motion")
                if d.doorbell:
                    self.sensor(d, "ding")
                self.info(d)

    def on_connect(self, client, _userdata, _flags, rc):
        if rc != 0:
            log(f"MQTT connect refused: {rc}")
            return
        for t in ("homeassistant/status", "hass/status", "hassio/status"):
            client.subscribe(t, qos=1)
        for t in self.a.watch:
            client.subscribe(t, qos=1)
        self.publish_all()
        self.ready.set()

    def on_message(self, _client, _userdata, msg):
        if any(mqtt.topic_matches_sub(w, msg.topic) for w in self.a.watch):
            say(f"SEEN {msg.topic} {now_ms()}")
            return
        if msg.payload == b"online":
            say(f"REPUBLISH {msg.topic}")
            t = threading.Timer(self.a.republish_delay, self.publish_all)
            t.daemon = True
            t.start()

    def event(self, kind, dev_id):
        d = self.devices.get(dev_id)
        if d is None or (kind == "ding" and not d.doorbell):
            say(f"ERROR no such {kind} device {dev_id}")
            return
        duration = self.a.ding_duration if kind == "ding" else self.a.motion_duration
        s = d.ding if kind == "ding" else d.motion
        with self.lock:
            s["on"] = True
            s["last"] = int(time.time())
            s["until"] = time.monotonic() + duration
            at = now_ms()
            self.sensor(d, kind)
        say(f"{kind.upper()} {dev_id} {at}")

    def expire(self):
        while True:
            time.sleep(0.2)
            with self.lock:
                for d in self.devices.values():
                    for kind, s in (("ding", d.ding), ("motion", d.motion)):
                        if s["on"] and time.monotonic() >= s["until"]:
                            s["on"] = False
                            self.sensor(d, kind)

    def periodic(self):
        while True:
            time.sleep(self.a.info_interval)
            with self.lock:
                for d in self.devices.values():
                    if d.status == "online":
                        self.info(d)

    def set_status(self, dev_id, status):
        d = self.devices.get(dev_id)
        if d is None or status not in ("online", "offline"):
            say(f"ERROR status {dev_id} {status}")
            return
        with self.lock:
            d.status = status
            self.pub(self.topic(d, "status"), status)
        say(f"STATUS {dev_id} {status}")


class Sessions:
    """Counts the media (one per client: the factories are not shared) per path."""

    def __init__(self):
        self.lock = threading.Lock()
        self.per_path = {}
        self.total = 0
        self.most = 0

    def opened(self, path):
        with self.lock:
            self.per_path[path] = self.per_path.get(path, 0) + 1
            self.total += 1
            self.most = max(self.most, self.total)
            say(f"SESSION {path} open {self.per_path[path]} {self.total} {self.most}")

    def closed(self, path):
        with self.lock:
            self.per_path[path] = max(0, self.per_path.get(path, 0) - 1)
            self.total = max(0, self.total - 1)
            say(f"SESSION {path} closed {self.per_path[path]} {self.total} {self.most}")


def launch(a):
    gop = max(1, round(a.fps * a.gop_seconds))
    return (
        f"( videotestsrc is-live=true ! "
        f"video/x-raw,format=I420,width={a.width},height={a.height},framerate={a.fps}/1 ! "
        f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} threads=1 bitrate=300 ! "
        f"video/x-h264,profile=constrained-baseline ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )


def main():
    p = argparse.ArgumentParser(description="ring-mqtt stand-in for Porchlight's tests")
    p.add_argument("--broker-port", type=int, required=True)
    p.add_argument("--topic", default="ring")
    p.add_argument("--location", default="5f3a9c1e-loc")
    p.add_argument("--device", action="append", default=[], help="<id>:<name>[:doorbell]")
    p.add_argument("--republish-delay", type=float, default=15.0)
    p.add_argument("--info-interval", type=float, default=300.0)
    p.add_argument("--ding-duration", type=float, default=180.0)
    p.add_argument("--motion-duration", type=float, default=180.0)
    p.add_argument("--watch", action="append", default=[], help="MQTT filter to time arrivals on")
    p.add_argument("--fps", type=int, default=15)
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--gop-seconds", type=float, default=1.0)
    a = p.parse_args()

    Gst.init(None)
    for e in ("videotestsrc", "x264enc", "rtph264pay"):
        if Gst.ElementFactory.find(e) is None:
            log(f"unavailable: missing GStreamer element {e}")
            return EXIT_UNAVAILABLE

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service("0")
    sessions = Sessions()
    mounts = server.get_mount_points()
    for spec in a.device:
        dev_id = spec.split(":")[0]
        for kind in ("live", "event"):
            path = f"/{dev_id}_{kind}"
            f = GstRtspServer.RTSPMediaFactory()
            f.set_launch(launch(a))
            f.set_shared(False)

            def configure(_f, media, path=path):
                sessions.opened(path)
                media.connect("unprepared", lambda *_: sessions.closed(path))

            f.connect("media-configure", configure)
            mounts.add_factory(path, f)
    if server.attach(None) == 0:
        log("cannot attach the RTSP server")
        return 1
    port = server.get_bound_port()

    bridge = Bridge(a, port)
    bridge.client.connect("127.0.0.1", a.broker_port, keepalive=30)
    bridge.client.loop_start()
    if not bridge.ready.wait(10):
        log("MQTT did not connect within 10 s")
        return 1
    for target in (bridge.expire, bridge.periodic):
        threading.Thread(target=target, daemon=True).start()

    loop = GLib.MainLoop()

    def commands():
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            if words[0] == "ding" and len(words) == 2:
                bridge.event("ding", words[1])
            elif words[0] == "motion" and len(words) == 2:
                bridge.event("motion", words[1])
            elif words[0] == "status" and len(words) == 3:
                bridge.set_status(words[1], words[2])
            elif words[0] == "crash":
                os._exit(70)
            else:
                say(f"ERROR unknown command {line.strip()!r}")
        # Stdin closed: the test is gone.
        bridge.client.disconnect()
        GLib.idle_add(loop.quit)

    threading.Thread(target=commands, daemon=True).start()
    say(f"READY rtsp://127.0.0.1:{port}")
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
