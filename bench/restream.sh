#!/usr/bin/env bash
# Restream benchmark (results and method in docs/benchmarks.md, "Restream").
#
# What one RTSP restream client costs the hub. Serves one pre-encoded 1080p25 H.264 clip
# (~4 Mbit/s, 2 s GOP, no B-frames) from the GStreamer RTSP test server
# (tests/peers/rtsp_server.py --file: one shared media, no encoding), records it with the
# Porchlight daemon (target/release/porchlight) as one camera with [restream] enabled, then for
# each N runs N clients at once (ffmpeg -rtsp_transport tcp -i rtsp://…/cam -c copy -f null -)
# and measures the daemon's CPU (utime+stime of all its threads from /proc/PID/stat) and RSS
# over --seconds after --warmup. N = 0 is the hub recording alone; the cost per client is
# (CPU(N) - CPU(0)) / N. Also checks that the camera server saw one session only (its
# "client" lines) and that each client received the clip's 25 frames a second.
# Prints a Markdown table on stdout (progress on stderr) and keeps a copy in
# target/bench/restream-<time>.md.
#
# Usage: bench/restream.sh [--counts "0 1 4 16"] [--seconds 30] [--warmup 5] [--no-build] [--bin PATH] [--keep]
#   --no-build  use the existing target/release/porchlight instead of running cargo build
#   --bin PATH  measure this porchlight binary (e.g. target/debug/porchlight; implies --no-build)
#   --keep      keep the work directory (configs, logs)
#
# Needs: cargo, ffmpeg, ffprobe, Debian's /usr/bin/python3 with the GStreamer packages listed in
# tests/peers/rtsp_server.py. Loopback only; signals only the processes it started.
set -euo pipefail

COUNTS="0 1 4 16"
RUN_SECS=30
WARMUP=5
BUILD=1
KEEP=0
BIN_ARG=""
while (($#)); do
    case "$1" in
        --counts) COUNTS="$2"; shift 2 ;;
        --seconds) RUN_SECS="$2"; shift 2 ;;
        --warmup) WARMUP="$2"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --bin) BIN_ARG="$2"; BUILD=0; shift 2 ;;
        --keep) KEEP=1; shift ;;
        -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "restream.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
for v in $COUNTS "$RUN_SECS" "$WARMUP"; do
    [[ "$v" =~ ^[0-9]+$ ]] || { echo "restream.sh: not a number: $v" >&2; exit 2; }
done
for n in $COUNTS; do
    ((n <= 256)) || { echo "restream.sh: N must be 0..256 (restream.max_clients)" >&2; exit 2; }
done
((RUN_SECS >= 5)) || { echo "restream.sh: --seconds must be at least 5" >&2; exit 2; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/target/bench"
PY=/usr/bin/python3
SERVER="$ROOT/tests/peers/rtsp_server.py"
BIN="${BIN_ARG:-$ROOT/target/release/porchlight}"
HZ=$(getconf CLK_TCK)

log() { echo "restream.sh: $*" >&2; }
die() { log "$*"; exit 1; }

for tool in ffmpeg ffprobe awk; do
    command -v "$tool" >/dev/null || die "needs $tool"
done
[[ -x "$PY" ]] || die "needs Debian's $PY (with python3-gi and GStreamer, see $SERVER)"
mkdir -p "$BENCH"

# shellcheck source=bench/procs.sh
. "$ROOT/bench/procs.sh"
WORK=""
cleanup() {
    exec 9>&- 2>/dev/null || true
    stop_all
    if [[ -n "$WORK" && -d "$WORK" ]]; then
        rm -rf "$WORK/data"
        ((KEEP)) || rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# utime+stime (clock ticks) of a PID; fails if it is gone.
cpu_ticks() {
    local line f
    read -r line </proc/"$1"/stat || return 1
    read -ra f <<<"${line##*) }"
    echo $((f[11] + f[12]))
}
# The last frame count in an ffmpeg -progress file (0 before the first).
frames() { awk -F= '$1 == "frame" && $2 ~ /^[0-9]+$/ { f = $2 } END { print f + 0 }' "$1" 2>/dev/null || echo 0; }
rss_kib() { awk '$1 == "VmRSS:" { print $2; exit }' /proc/"$1"/status; }
now() { echo "$EPOCHREALTIME"; }
calc() { awk "BEGIN { printf \"%.${1}f\", $2 }"; }

# ------------------------------------------------------------------------- the clip ---------
count=0
for n in $COUNTS; do count=$((count + 1)); done
need=$(((RUN_SECS + WARMUP + 15) * count + 30))
bench_clip "$need"
CLIP_BPS=$(ffprobe -v error -show_entries format=bit_rate -of default=nw=1:nk=1 "$CLIP")
log "clip: $CLIP ($(calc 2 "$CLIP_BPS / 1e6") Mbit/s)"

if ((BUILD)); then
    log "cargo build --release -p porchlight"
    (cd "$ROOT" && cargo build --release -p porchlight) >&2 || die "build failed"
fi
[[ -x "$BIN" ]] || die "no $BIN (build it or drop --no-build)"
REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n "$(git -C "$ROOT" status --porcelain -- daemon Cargo.lock 2>/dev/null)" ]]; then REV="$REV (daemon/ modified)"; fi
WORK=$(mktemp -d "$BENCH/restream.XXXXXX")

# ------------------------------------------------------- the camera and the hub -------------
fifo="$WORK/srv.in"
mkfifo "$fifo"
"$PY" "$SERVER" --file "$CLIP" --exit-on-stdin-close <"$fifo" >"$WORK/srv.out" 2>"$WORK/srv.err" &
SRV=$!
STARTED[$SRV]=1
exec 9>"$fifo"
URL=""
for ((i = 0; i < 200; i++)); do
    URL=$(awk '$1 == "READY" { print $2; exit }' "$WORK/srv.out" 2>/dev/null) || true
    [[ -n "$URL" ]] && break
    alive "$SRV" || die "RTSP server exited: $(tail -3 "$WORK/srv.err")"
    sleep 0.1
done
[[ -n "$URL" ]] || die "RTSP server not ready after 20 s"

cfg="$WORK/porchlight.toml"
mkdir -p "$WORK/data"
{
    printf '[hub]\ndata_dir = "%s"\nlog_format = "json"\nlog_level = "info"\n\n' "$WORK/data"
    printf '[api]\nlisten = "127.0.0.1:0"\n\n[storage]\nmin_free_bytes = "0 B"\n\n'
    printf '[[camera]]\nname = "cam"\nrtsp_url = "%s/file"\n\n' "$URL"
    printf '[restream]\nenabled = true\nlisten = "127.0.0.1:0"\nmax_clients = 256\n'
} >"$cfg"
"$BIN" run --config "$cfg" </dev/null >/dev/null 2>"$WORK/daemon.log" 9>&- &
DAEMON=$!
STARTED[$DAEMON]=1
RADDR=""
for ((i = 0; i < 600; i++)); do
    RADDR=$(grep '"Restream listening"' "$WORK/daemon.log" | grep -o '"addr":"[^"]*"' | head -1 | cut -d'"' -f4) || true
    [[ -n "$RADDR" ]] && grep -q '"Streaming"' "$WORK/daemon.log" && break
    alive "$DAEMON" || die "porchlight exited: $(tail -5 "$WORK/daemon.log")"
    sleep 0.1
done
[[ -n "$RADDR" ]] || die "the restream did not listen within 60 s"
grep -q '"Streaming"' "$WORK/daemon.log" || die "the camera is not streaming after 60 s"
RURL="rtsp://$RADDR/cam"
log "hub $DAEMON records $URL/file, restreams at $RURL"
sessions0=$(grep -c 'client ' "$WORK/srv.err" || true)

# ------------------------------------------------------------------------------ runs --------
declare -A R_CPU R_RSS R_RATE
STARTED_AT=$(date -u +%Y-%m-%dT%H:%MZ)
LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
for n in $COUNTS; do
    pids=()
    for ((i = 1; i <= n; i++)); do
        ffmpeg -nostdin -hide_banner -loglevel error -rtsp_transport tcp -i "$RURL" -c copy -f null \
            -progress "$WORK/progress-$n-$i" - </dev/null >/dev/null 2>"$WORK/client-$n-$i.log" 9>&- &
        pids+=($!)
        STARTED[$!]=1
    done
    log "N=$n: warm-up ${WARMUP} s"
    sleep "$WARMUP"
    for p in "${pids[@]}"; do alive "$p" || die "a client exited: $(cat "$WORK"/client-"$n"-*.log | tail -3)"; done
    sizes0=0
    for ((i = 1; i <= n; i++)); do
        s=$(frames "$WORK/progress-$n-$i"); sizes0=$((sizes0 + s))
    done
    t0=$(now); c0=$(cpu_ticks "$DAEMON")
    log "N=$n: measuring ${RUN_SECS} s"
    sleep "$RUN_SECS"
    t1=$(now); c1=$(cpu_ticks "$DAEMON"); rss=$(rss_kib "$DAEMON")
    sizes1=0
    for ((i = 1; i <= n; i++)); do
        s=$(frames "$WORK/progress-$n-$i"); sizes1=$((sizes1 + s))
    done
    wall=$(calc 6 "$t1 - $t0")
    R_CPU[$n]=$(calc 2 "($c1 - $c0) / $HZ / $wall * 100")
    R_RSS[$n]=$(calc 1 "$rss / 1024")
    if ((n > 0)); then
        # ffmpeg's progress lags a little; rates near 100 % mean every client keeps up.
        R_RATE[$n]=$(calc 0 "($sizes1 - $sizes0) / $wall / $n / 25 * 100")
    else
        R_RATE[$n]="-"
    fi
    stop "${pids[@]}"
done
sessions1=$(grep -c 'client ' "$WORK/srv.err" || true)
stop "$DAEMON"

# --------------------------------------------------------------------------- report ---------
report() {
    echo "Restream benchmark: started $STARTED_AT (load average then: $LOAD_AT_START), porchlight $REV ($BIN), $(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), ${WARMUP} s warm-up, ${RUN_SECS} s window"
    echo "Clip: $(basename "$CLIP"), $(calc 2 "$CLIP_BPS / 1e6") Mbit/s; camera sessions opened by the clients: $((sessions1 - sessions0))"
    echo
    echo "| Clients N | Hub CPU % of one core | CPU % per client, (CPU(N) - CPU(0)) / N | Hub RSS MiB | Frames per client / the clip's 25 per s |"
    echo "| ---: | ---: | ---: | ---: | ---: |"
    local base=${R_CPU[0]:-} n per
    for n in $COUNTS; do
        per="-"
        if ((n > 0)) && [[ -n "$base" ]]; then per=$(calc 3 "(${R_CPU[$n]} - $base) / $n"); fi
        rate=${R_RATE[$n]}
        [[ "$rate" != "-" ]] && rate="$rate %"
        printf '| %s | %s | %s | %s | %s |\n' "$n" "${R_CPU[$n]}" "$per" "${R_RSS[$n]}" "$rate"
    done
}
out="$BENCH/restream-$(date -u +%Y%m%dT%H%M%SZ).md"
report | tee "$out"
log "kept a copy in $out"
