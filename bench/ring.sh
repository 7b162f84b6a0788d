#!/usr/bin/env bash
# Ring doorbell benchmark (results and method in docs/benchmarks.md, "Ring doorbells").
#
# A ring-mqtt stand-in (tests/peers/ring_mqtt.py: ring-mqtt's topics on a mosquitto broker, and
# an RTSP gateway that builds a 320x240 15 fps H.264 stream, 1 s GOP, only while a client is
# connected) announces one doorbell; the Porchlight daemon adopts it (record = "on_event",
# post_roll 2 s). The doorbell is pressed --presses times, each after the previous recording's
# stream was closed. For each press:
#   ding -> first recorded frame = start of the recorded segment (the first frame's wall time,
#                                  from GET /api/recordings) - the moment the bridge published
#                                  the ding (its DING line)
#   ding -> Home Assistant event = arrival of porchlight/front-door/doorbell at an MQTT client
#                                  (the stand-in subscribes to it; its SEEN line) - the same
#                                  publication time; both times from the same clock
# Goals on loopback: first frame <= 2 s, Home Assistant event <= 50 ms.
# Prints a Markdown table on stdout (progress on stderr); a copy goes to target/bench/.
#
# Usage: bench/ring.sh [--presses 20] [--release] [--no-build] [--keep]
# Needs: cargo, curl, awk, mosquitto, Debian's /usr/bin/python3 with python3-paho-mqtt and the
# GStreamer packages of tests/peers/ring_mqtt.py. Loopback only; signals only its own processes.
set -euo pipefail

PRESSES=20
PROFILE=debug
BUILD=1
KEEP=0
while (($#)); do
    case "$1" in
        --presses) PRESSES="$2"; shift 2 ;;
        --release) PROFILE=release; shift ;;
        --no-build) BUILD=0; shift ;;
        --keep) KEEP=1; shift ;;
        -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "ring.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ "$PRESSES" =~ ^[0-9]+$ ]] && ((PRESSES >= 1 && PRESSES <= 500)) || { echo "ring.sh: --presses 1..500" >&2; exit 2; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/target/bench"
PY=/usr/bin/python3
PEER="$ROOT/tests/peers/ring_mqtt.py"
BIN="$ROOT/target/$PROFILE/porchlight"
MOSQUITTO=/usr/sbin/mosquitto

log() { echo "ring.sh: $*" >&2; }
die() { log "$*"; exit 1; }
for tool in curl awk; do command -v "$tool" >/dev/null || die "needs $tool"; done
[[ -x "$MOSQUITTO" ]] || die "needs mosquitto"
[[ -x "$PY" ]] || die "needs Debian's $PY"
mkdir -p "$BENCH"

# shellcheck source=bench/procs.sh
. "$ROOT/bench/procs.sh"
WORK=""
cleanup() {
    exec 3>&- 2>/dev/null || true
    stop_all
    if [[ -n "$WORK" && -d "$WORK" ]] && ((!KEEP)); then rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ((BUILD)); then
    flag=""
    [[ "$PROFILE" == release ]] && flag="--release"
    log "cargo build $flag -p porchlight"
    (cd "$ROOT" && cargo build $flag -p porchlight) >&2 || die "build failed"
fi
[[ -x "$BIN" ]] || die "no $BIN (build it or drop --no-build)"
REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n "$(git -C "$ROOT" status --porcelain -- daemon Cargo.lock 2>/dev/null)" ]]; then REV="$REV (daemon/ modified)"; fi
WORK=$(mktemp -d "$BENCH/ring.XXXXXX")

# wait_for FILE AWK-PATTERN SECONDS: polls (10 ms) until a line matches; prints it.
wait_for() {
    local i line
    for ((i = 0; i < $3 * 100; i++)); do
        line=$(awk "$2 { print; exit }" "$1" 2>/dev/null) || true
        if [[ -n "$line" ]]; then echo "$line"; return 0; fi
        sleep 0.01
    done
    return 1
}

# ---------------------------------------------------------------- broker, bridge -----
BPORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\n' "$BPORT" >"$WORK/mosquitto.conf"
"$MOSQUITTO" -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.log" 2>&1 &
STARTED[$!]=1
for ((i = 0; i < 100; i++)); do (echo >"/dev/tcp/127.0.0.1/$BPORT") 2>/dev/null && break; sleep 0.05; done

mkfifo "$WORK/peer.in"
"$PY" "$PEER" --broker-port "$BPORT" --device "abc123:Front Door:doorbell" --ding-duration 1 \
    --watch "porchlight/+/doorbell" <"$WORK/peer.in" >"$WORK/peer.out" 2>"$WORK/peer.err" &
PEER_PID=$!
STARTED[$PEER_PID]=1
exec 3>"$WORK/peer.in"
wait_for "$WORK/peer.out" '$1 == "READY"' 20 >/dev/null || die "bridge not ready: $(tail -3 "$WORK/peer.err")"

# ---------------------------------------------------------------- the daemon -----
cfg="$WORK/porchlight.toml"
{
    printf '[hub]\ndata_dir = "%s"\nlog_format = "json"\nlog_level = "info"\n\n' "$WORK/data"
    printf '[api]\nlisten = "127.0.0.1:0"\n\n'
    printf '[storage]\nmin_free_bytes = "0 B"\n\n'
    printf '[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = %s\n\n' "$BPORT"
    printf '[mqtt.ring]\nenabled = true\nadopt = true\npost_roll = "2s"\n'
} >"$cfg"
"$BIN" run --config "$cfg" </dev/null >/dev/null 2>"$WORK/daemon.log" &
DAEMON=$!
STARTED[$DAEMON]=1
API=$(wait_for "$WORK/daemon.log" '/"API listening"/' 60 | grep -o '"addr":"[^"]*"' | cut -d'"' -f4) || die "API not up"
for ((i = 0; i < 300; i++)); do
    curl -s "http://$API/api/cameras" | grep -q '"state":"standby"' && break
    sleep 0.1
done
curl -s "http://$API/api/cameras" | grep -q '"state":"standby"' || die "the doorbell was not adopted: $(tail -5 "$WORK/daemon.log")"
log "doorbell adopted; $PRESSES presses"

# ---------------------------------------------------------------- presses -----
: >"$WORK/results"
for ((n = 1; n <= PRESSES; n++)); do
    before=$(grep -c '' "$WORK/peer.out" || true)
    closed_before=$(grep -c 'Post-roll over' "$WORK/daemon.log" || true)
    echo "ding abc123" >&3
    ding=$(wait_for "$WORK/peer.out" "NR > $before && \$1 == \"DING\"" 10 | awk '{ print $3 }') || die "no DING"
    # The stream is closed after the post-roll: the recording of this press is complete.
    for ((i = 0; i < 3000; i++)); do
        [[ $(grep -c 'Post-roll over' "$WORK/daemon.log" || true) -gt $closed_before ]] && break
        sleep 0.01
    done
    seen=$(awk -v b="$before" 'NR > b && $1 == "SEEN" { print $3; exit }' "$WORK/peer.out")
    start=$(curl -s "http://$API/api/recordings?camera=front-door" | grep -o '"start_ms":[0-9]*' | cut -d: -f2 | sort -n | tail -1)
    [[ -n "$seen" && -n "$start" ]] || die "press $n: no MQTT event ($seen) or recording ($start)"
    echo "$n $((start - ding)) $((seen - ding))" >>"$WORK/results"
    log "press $n: first frame +$((start - ding)) ms, Home Assistant event +$((seen - ding)) ms"
    sleep 0.5
done

stats() { # column -> "median p95 max"
    awk -v c="$1" '{ print $c }' "$WORK/results" | sort -n | awk '{ v[NR] = $1 } END {
        p95 = int(NR * 0.95 + 0.999); if (p95 < 1) p95 = 1; if (p95 > NR) p95 = NR
        printf "%d | %d | %d", v[int((NR + 1) / 2)], v[p95], v[NR] }'
}
sessions=$(grep -c '^SESSION .* open ' "$WORK/peer.out" || true)
out="$BENCH/ring-$(date -u +%Y%m%dT%H%M%SZ).md"
{
    echo "Ring doorbell through ring-mqtt, $PRESSES presses, $PROFILE build, commit $REV, $(date -u +%Y-%m-%d), $(nproc) cores ($(uname -m))"
    echo
    echo "| From the ding to | median ms | p95 ms | max ms | goal |"
    echo "| --- | --- | --- | --- | --- |"
    echo "| the first recorded frame | $(stats 2) | ≤ 2000 |"
    echo "| Home Assistant's doorbell event on MQTT | $(stats 3) | ≤ 50 |"
    echo
    echo "Gateway streams opened: $sessions for $PRESSES presses."
} | tee "$out"
