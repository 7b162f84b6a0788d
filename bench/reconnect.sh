#!/usr/bin/env bash
# Reconnect benchmark (results and method in docs/benchmarks.md, "Reconnecting").
#
# One camera, the GStreamer RTSP test camera (tests/peers/rtsp_server.py, /h264: H.264 + AAC,
# 320x240, 15 fps, 1 s GOP, a fresh pipeline per client), recorded by the Porchlight daemon.
# The camera is flapped --flaps times: it streams for --up seconds, is stopped (SIGTERM), stays
# down --down seconds, and is started again on the same port. For each return the script takes
#   return = time of the daemon's camera_online event (its own timestamp, from GET /api/events)
#            - the moment the restarted server said READY (it listens from then on),
# i.e. how long after the camera accepts connections again the recorder has its first frame.
# At the end it also reads the index: the gap each outage left in the recordings (footage lost),
# next to how long the camera was really down (stop sent .. READY).
# Prints a Markdown table on stdout (progress on stderr) and keeps a copy in
# target/bench/reconnect-<time>.md.
#
# Usage: bench/reconnect.sh [--flaps 20] [--up 5] [--down 5] [--release] [--no-build] [--keep]
#   --release   use target/release/porchlight (default: target/debug/porchlight)
#   --no-build  use the existing binary instead of running cargo build
#   --keep      keep the work directory (config, logs, events, recordings)
#
# Needs: cargo, curl, awk, GNU date, Debian's /usr/bin/python3 with the GStreamer packages listed
# in tests/peers/rtsp_server.py. Loopback only; signals only the processes it started. Takes about
# flaps x (up + down + 2) seconds (20 flaps: about 4 minutes).
set -euo pipefail

FLAPS=20
UP=5
DOWN=5
PROFILE=debug
BUILD=1
KEEP=0
while (($#)); do
    case "$1" in
        --flaps) FLAPS="$2"; shift 2 ;;
        --up) UP="$2"; shift 2 ;;
        --down) DOWN="$2"; shift 2 ;;
        --release) PROFILE=release; shift ;;
        --no-build) BUILD=0; shift ;;
        --keep) KEEP=1; shift ;;
        -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "reconnect.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
for v in "$FLAPS" "$UP" "$DOWN"; do
    [[ "$v" =~ ^[0-9]+$ ]] || { echo "reconnect.sh: not a number: $v" >&2; exit 2; }
done
((FLAPS >= 1 && FLAPS <= 200)) || { echo "reconnect.sh: --flaps must be 1..200" >&2; exit 2; }
((UP >= 2 && UP <= 600 && DOWN <= 600)) || { echo "reconnect.sh: --up 2..600, --down 0..600" >&2; exit 2; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/target/bench"
PY=/usr/bin/python3
SERVER="$ROOT/tests/peers/rtsp_server.py"
BIN="$ROOT/target/$PROFILE/porchlight"
WAIT_ONLINE=60 # seconds a return may take before the run gives up

log() { echo "reconnect.sh: $*" >&2; }
die() { log "$*"; exit 1; }

for tool in curl awk date; do
    command -v "$tool" >/dev/null || die "needs $tool"
done
[[ -x "$PY" ]] || die "needs Debian's $PY (with python3-gi and GStreamer, see $SERVER)"
mkdir -p "$BENCH"

# ---------------------------------------------------------------- processes (ours only) -----
# shellcheck source=bench/procs.sh
. "$ROOT/bench/procs.sh"
WORK=""
cleanup() {
    stop_all
    if [[ -n "$WORK" && -d "$WORK" ]] && ((!KEEP)); then rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { echo "$EPOCHREALTIME"; }
calc() { awk "BEGIN { printf \"%.${1}f\", $2 }"; }
epoch() { date -u -d "$1" +%s.%N; } # RFC 3339 -> seconds

if ((BUILD)); then
    flag=""
    [[ "$PROFILE" == release ]] && flag="--release"
    log "cargo build $flag -p porchlight"
    (cd "$ROOT" && cargo build $flag -p porchlight) >&2 || die "build failed"
fi
[[ -x "$BIN" ]] || die "no $BIN (build it or drop --no-build)"
REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n "$(git -C "$ROOT" status --porcelain -- daemon Cargo.lock 2>/dev/null)" ]]; then REV="$REV (daemon/ modified)"; fi
WORK=$(mktemp -d "$BENCH/reconnect.XXXXXX")

# ---------------------------------------------------------------- the camera -----
SRV=""
PORT=0
READY_AT=""
start_server() {
    local i url
    : >"$WORK/srv.out"
    "$PY" "$SERVER" --port "$PORT" >"$WORK/srv.out" 2>>"$WORK/srv.err" &
    SRV=$!
    STARTED[$SRV]=1
    # Polled every 10 ms: the READY line is printed as soon as the server listens.
    for ((i = 0; i < 2000; i++)); do
        url=$(awk '$1 == "READY" { print $2; exit }' "$WORK/srv.out")
        if [[ -n "$url" ]]; then
            READY_AT=$(now)
            PORT=${url##*:}
            return 0
        fi
        alive "$SRV" || die "RTSP server exited: $(tail -3 "$WORK/srv.err")"
        sleep 0.01
    done
    die "RTSP server not ready after 20 s"
}

start_server
log "camera on 127.0.0.1:$PORT"

# ---------------------------------------------------------------- the daemon -----
cfg="$WORK/porchlight.toml"
{
    printf '[hub]\ndata_dir = "%s"\nlog_format = "json"\nlog_level = "info"\n\n' "$WORK/data"
    printf '[api]\nlisten = "127.0.0.1:0"\n\n'
    printf '[storage]\ndir = "%s"\nsegment_duration = "60s"\nmin_free_bytes = "0 B"\n\n' "$WORK/rec"
    printf '[[camera]]\nname = "cam"\nrtsp_url = "rtsp://127.0.0.1:%s/h264"\n' "$PORT"
} >"$cfg"
"$BIN" run --config "$cfg" </dev/null >/dev/null 2>"$WORK/daemon.log" &
DAEMON=$!
STARTED[$DAEMON]=1
API=""
for ((i = 0; i < 600; i++)); do
    API=$(grep '"API listening"' "$WORK/daemon.log" 2>/dev/null | grep -o '"addr":"[^"]*"' | head -1 | cut -d'"' -f4) || true
    [[ -n "$API" ]] && break
    alive "$DAEMON" || die "porchlight exited: $(tail -5 "$WORK/daemon.log")"
    sleep 0.1
done
[[ -n "$API" ]] || die "porchlight's API not up after 60 s"
curl -sN "http://$API/api/events" >"$WORK/events.log" 2>/dev/null &
SSE=$!
STARTED[$SSE]=1

# The time of the n-th camera_online event (1-based), waiting up to WAIT_ONLINE seconds.
online_time() {
    local n=$1 i t
    for ((i = 0; i < WAIT_ONLINE * 100; i++)); do
        t=$(grep '"type":"camera_online"' "$WORK/events.log" | sed -n "${n}p" \
            | grep -o '"time":"[^"]*"' | cut -d'"' -f4) || true
        if [[ -n "$t" ]]; then
            epoch "$t"
            return 0
        fi
        alive "$DAEMON" || die "porchlight exited: $(tail -5 "$WORK/daemon.log")"
        sleep 0.01
    done
    die "camera not recording again within $WAIT_ONLINE s (return $n)"
}

online_time 1 >/dev/null
log "recording; $FLAPS flaps of ${UP} s up, ${DOWN} s down"
RETURNS=()
DOWNS=()
for ((k = 1; k <= FLAPS; k++)); do
    sleep "$UP"
    t_stop=$(now)
    stop "$SRV"
    sleep "$DOWN"
    start_server
    t_on=$(online_time $((k + 1)))
    RETURNS+=("$(calc 0 "($t_on - $READY_AT) * 1000")")
    DOWNS+=("$(calc 3 "$READY_AT - $t_stop")")
    log "flap $k: down $(calc 2 "$READY_AT - $t_stop") s, recording again $(calc 0 "($t_on - $READY_AT) * 1000") ms after READY"
done
sleep 2
# The outages' gaps (not the one before the first recording), in seconds.
GAPS=$(curl -s --max-time 10 "http://$API/api/recordings?camera=cam" | "$PY" -c '
import json, sys
for g in json.load(sys.stdin)["gaps"]:
    if g["reason"].startswith("camera offline"):
        print("%.3f" % ((g["end_ms"] - g["start_ms"]) / 1000))') || true
stop "$DAEMON" "$SSE" "$SRV"

# ---------------------------------------------------------------- report -----
stats() { sort -n | awk '{ v[NR] = $1; s += $1 } END { if (NR == 0) { print "- - - -"; exit }
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%s %s %s %s\n", m, v[1], v[NR], NR }'; }
read -r r_med r_min r_max r_n < <(printf '%s\n' "${RETURNS[@]}" | stats)
read -r d_med _ _ _ < <(printf '%s\n' "${DOWNS[@]}" | stats)
read -r g_med g_min g_max g_n < <(printf '%s\n' $GAPS | stats)
CPU=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
OUT="$BENCH/reconnect-$(date -u +%Y%m%dT%H%M%SZ).md"
{
    echo "| Date | Commit | Machine | Binary | Flaps (up/down s) | Return median | Return max | Return min | Down median | Gap median (min-max, n) |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    echo "| $(date -u +%F) | $REV | $CPU, $(nproc) cores | $PROFILE | $r_n ($UP/$DOWN) | $r_med ms | $r_max ms | $r_min ms | $(calc 2 "$d_med") s | $g_med s ($g_min-$g_max, $g_n) |"
    echo
    echo "Returns (ms, in order): ${RETURNS[*]}"
} | tee "$OUT"
log "kept in $OUT"
