#!/usr/bin/env bash
# Recording benchmark (results and method in docs/benchmarks.md, "Recording").
#
# Serves one pre-encoded 1080p25 H.264 clip (~4 Mbit/s, 2 s GOP, no B-frames) from the GStreamer
# RTSP test server (tests/peers/rtsp_server.py --file: one shared media, no encoding per client),
# then for each N records N concurrent streams of it twice, each run against a fresh server:
#   1. the Porchlight daemon (target/release/porchlight) with N cameras, and
#   2. N ffmpeg processes: ffmpeg -rtsp_transport tcp -i URL -c copy -f segment (as Frigate does).
# Each run waits until every stream records, then --warmup seconds, then measures --seconds:
# CPU from /proc/PID/stat (utime+stime over the window; all threads; ffmpeg summed over its N
# processes), RSS from /proc/PID/status VmRSS (sampled about every 5 s; the table shows the
# maximum, the details also the mean; ffmpeg also PSS, which counts shared libraries once).
# Prints Markdown tables on stdout (progress goes to stderr) and keeps a copy in
# target/bench/record-<time>.md.
#
# Usage: bench/record.sh [--counts "1 16 64"] [--seconds 60] [--warmup 10] [--no-build] [--keep]
#   --no-build  use the existing target/release/porchlight instead of running cargo build
#   --keep      keep the work directory (configs, logs; recordings are always deleted)
#
# Needs: cargo, ffmpeg, ffprobe, curl, Debian's /usr/bin/python3 with the GStreamer packages
# listed in tests/peers/rtsp_server.py. Disk: about N x 0.55 MB/s of recording per run under
# target/bench/ (64 streams, 60 s: ~2.7 GB), deleted after each run. Loopback only.
set -euo pipefail

COUNTS="1 16 64"
RUN_SECS=60
WARMUP=10
BUILD=1
KEEP=0
while (($#)); do
    case "$1" in
        --counts) COUNTS="$2"; shift 2 ;;
        --seconds) RUN_SECS="$2"; shift 2 ;;
        --warmup) WARMUP="$2"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --keep) KEEP=1; shift ;;
        -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "record.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
for v in $COUNTS "$RUN_SECS" "$WARMUP"; do
    [[ "$v" =~ ^[0-9]+$ ]] || { echo "record.sh: not a number: $v" >&2; exit 2; }
done
for n in $COUNTS; do
    ((n >= 1 && n <= 999)) || { echo "record.sh: N must be 1..999" >&2; exit 2; }
done
((RUN_SECS >= 5)) || { echo "record.sh: --seconds must be at least 5" >&2; exit 2; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/target/bench"
PY=/usr/bin/python3
SERVER="$ROOT/tests/peers/rtsp_server.py"
BIN="$ROOT/target/release/porchlight"
HZ=$(getconf CLK_TCK)
RSS_EVERY=5 # seconds between RSS samples

log() { echo "record.sh: $*" >&2; }
die() { log "$*"; exit 1; }

for tool in ffmpeg ffprobe curl awk du df; do
    command -v "$tool" >/dev/null || die "needs $tool"
done
[[ -x "$PY" ]] || die "needs Debian's $PY (with python3-gi and GStreamer, see $SERVER)"
mkdir -p "$BENCH"

# ---------------------------------------------------------------- processes (ours only) -----
# shellcheck source=bench/procs.sh
. "$ROOT/bench/procs.sh"
WORK=""
cleanup() {
    exec 9>&- 2>/dev/null || true
    stop_all
    if [[ -n "$WORK" && -d "$WORK" ]]; then
        rm -rf "$WORK/rec"
        ((KEEP)) || rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ----------------------------------------------------------------------- /proc readers ------
# Sums of utime and stime (clock ticks) of the given PIDs, "user sys"; fails if one is gone.
cpu_ticks() {
    local pid line f u=0 s=0
    for pid; do
        read -r line </proc/"$pid"/stat || return 1
        read -ra f <<<"${line##*) }"
        ((u += f[11], s += f[12]))
    done
    echo "$u $s"
}
# Sum of a "Key: N kB" field (VmRSS in status, Pss in smaps_rollup) over PIDs, in KiB.
proc_kib() {
    local file=$1 key=$2
    shift 2
    local pid sum=0 v
    for pid; do
        v=$(awk -v k="$key:" '$1 == k { print $2; exit }' /proc/"$pid"/"$file" 2>/dev/null) || v=0
        ((sum += ${v:-0}))
    done
    echo "$sum"
}
# "busy total" jiffies of the whole machine (busy excludes idle and iowait).
machine_ticks() { awk '$1 == "cpu" { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t; exit }' /proc/stat; }
now() { echo "$EPOCHREALTIME"; }
calc() { awk "BEGIN { printf \"%.${1}f\", $2 }"; }

# ------------------------------------------------------------------------- the clip ---------
# Long enough for the slowest start-up (64 sessions) plus warm-up and window; never looped.
need=$((RUN_SECS + WARMUP + 25))
bench_clip "$need"
CLIP_BPS=$(ffprobe -v error -show_entries format=bit_rate -of default=nw=1:nk=1 "$CLIP")
CLIP_INFO=$(ffprobe -v error -select_streams v:0 -show_entries stream=codec_name,profile,width,height,r_frame_rate \
    -show_entries format=duration -of default=nw=1:nk=1 "$CLIP" | paste -sd' ')
log "clip: $CLIP ($CLIP_INFO, $(calc 2 "$CLIP_BPS / 1e6") Mbit/s)"

# ------------------------------------------------------------------------ the daemon --------
if ((BUILD)); then
    log "cargo build --release -p porchlight"
    (cd "$ROOT" && cargo build --release -p porchlight) >&2 || die "build failed"
fi
[[ -x "$BIN" ]] || die "no $BIN (build it or drop --no-build)"
REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n "$(git -C "$ROOT" status --porcelain -- daemon Cargo.lock 2>/dev/null)" ]]; then REV="$REV (daemon/ modified)"; fi

WORK=$(mktemp -d "$BENCH/record.XXXXXX")
max_n=0
for n in $COUNTS; do ((n > max_n)) && max_n=$n; done
need_mb=$(((max_n * (CLIP_BPS / 8) * (RUN_SECS + WARMUP + 30)) / 1000000 + 500))
free_mb=$(df -Pm "$BENCH" | awk 'NR == 2 { print $4 }')
((free_mb > need_mb)) || die "needs about $need_mb MB free under $BENCH, has $free_mb MB (lower --counts or --seconds)"
log "work directory $WORK; up to ~$need_mb MB of recordings per run ($free_mb MB free)"

# ----------------------------------------------------------------------- one server ---------
# tests/peers/rtsp_server.py serves the clip at /file as one shared, non-seekable media (RFC
# 7273 clock signalling), so clients joining do not rewind it for the others.
SRV=""
URL=""
start_server() {
    local fifo="$WORK/srv.in" i
    rm -f "$fifo" "$WORK/srv.out"
    mkfifo "$fifo"
    # stdin is a FIFO this script holds open on fd 9: if the script dies, the server sees EOF.
    "$PY" "$SERVER" --file "$CLIP" --exit-on-stdin-close <"$fifo" >"$WORK/srv.out" 2>>"$WORK/srv.err" &
    SRV=$!
    STARTED[$SRV]=1
    exec 9>"$fifo"
    URL=""
    for ((i = 0; i < 200; i++)); do
        URL=$(awk '$1 == "READY" { print $2; exit }' "$WORK/srv.out")
        [[ -n "$URL" ]] && break
        alive "$SRV" || die "RTSP server exited: $(tail -3 "$WORK/srv.err")"
        sleep 0.1
    done
    [[ -n "$URL" ]] || die "RTSP server not ready after 20 s"
    URL="$URL/file"
}
stop_server() {
    exec 9>&-
    stop "$SRV"
    SRV=""
}

# ------------------------------------------------------------------------ measuring ---------
# measure TAG N DIR PID...: after the warm-up, CPU and RSS of PIDs over RUN_SECS, plus the
# server's CPU, the machine's and the bytes recorded under DIR. Sets R_<field>[TAG-N].
declare -A R_CPU R_SYS R_RSSMAX R_RSSMEAN R_PSS R_SRV R_MACH R_RATE R_OK R_NOTE
measure() {
    local tag=$1 n=$2 dir=$3
    shift 3
    local key="$tag-$n" t0 t1 c0 c1 s0 s1 m0 m1 b0 b1 k samples interval rss pss rmax=0 rsum=0
    log "$key: warm-up ${WARMUP} s"
    sleep "$WARMUP"
    samples=$(((RUN_SECS + RSS_EVERY - 1) / RSS_EVERY))
    interval=$(calc 3 "$RUN_SECS / $samples")
    b0=$(du -sb "$dir" | cut -f1)
    du -sb "$dir"/* >"$WORK/du0" 2>/dev/null || true
    t0=$(now); c0=$(cpu_ticks "$@") || die "$key: a measured process died before the window"
    s0=$(cpu_ticks "$SRV"); m0=$(machine_ticks)
    log "$key: measuring ${RUN_SECS} s ($samples RSS samples)"
    for ((k = 0; k < samples; k++)); do
        sleep "$interval"
        rss=$(proc_kib status VmRSS "$@")
        ((rss > rmax)) && rmax=$rss
        ((rsum += rss))
    done
    t1=$(now); c1=$(cpu_ticks "$@") || die "$key: a measured process died during the window"
    s1=$(cpu_ticks "$SRV"); m1=$(machine_ticks)
    b1=$(du -sb "$dir" | cut -f1)
    du -sb "$dir"/* >"$WORK/du1" 2>/dev/null || true
    pss=$(proc_kib smaps_rollup Pss "$@")
    local wall
    wall=$(calc 6 "$t1 - $t0")
    local u0 k0 u1 k1 x0 y0 x1 y1
    read -r u0 k0 <<<"$c0"; read -r u1 k1 <<<"$c1"
    R_CPU[$key]=$(calc 4 "($u1 + $k1 - $u0 - $k0) / $HZ / $wall * 100")
    R_SYS[$key]=$(calc 0 "($k1 - $k0) / ($u1 + $k1 - $u0 - $k0 + 0.001) * 100")
    read -r x0 y0 <<<"$s0"; read -r x1 y1 <<<"$s1"
    R_SRV[$key]=$(calc 1 "($x1 + $y1 - $x0 - $y0) / $HZ / $wall * 100")
    read -r x0 y0 <<<"$m0"; read -r x1 y1 <<<"$m1"
    R_MACH[$key]=$(calc 0 "($x1 - $x0) / ($y1 - $y0) * 100 * $(nproc)")
    R_RSSMAX[$key]=$(calc 2 "$rmax / 1024")
    R_RSSMEAN[$key]=$(calc 2 "$rsum / $samples / 1024")
    R_PSS[$key]=$(calc 2 "$pss / 1024")
    # Recorded bit rate per stream relative to the clip's: ~100 % when every stream keeps up.
    R_RATE[$key]=$(calc 0 "($b1 - $b0) * 8 / $wall / $n / $CLIP_BPS * 100")
    # Streams whose own directory grew by at least 90 % of the clip's rate during the window.
    R_OK[$key]=$(awk -v min="$(calc 0 "$CLIP_BPS / 8 * $wall * 0.9")" \
        -F '\t' 'NR == FNR { b[$2] = $1; next } $1 - b[$2] >= min { c++ } END { print c + 0 }' "$WORK/du0" "$WORK/du1")/$n
}

# Waits (bounded) until COUNT_CMD prints N; returns the last count.
wait_streaming() {
    local n=$1 limit=$2 pids=$3 count_cmd=$4 i c=0 pid
    for ((i = 0; i < limit * 2; i++)); do
        c=$($count_cmd)
        ((c >= n)) && break
        for pid in $pids; do alive "$pid" || { echo "$c"; return; }; done
        sleep 0.5
    done
    echo "$c"
}

# ------------------------------------------------------------------ Porchlight run ----------
DAEMON=""
daemon_streaming() { grep -c '"Streaming"' "$WORK/daemon.log" || true; }
run_porchlight() {
    local n=$1 i cfg="$WORK/porchlight.toml" ok api dropped offline
    rm -rf "$WORK/data" "$WORK/rec"
    mkdir -p "$WORK/data" "$WORK/rec"
    {
        printf '[hub]\ndata_dir = "%s"\nlog_format = "json"\nlog_level = "info"\n\n' "$WORK/data"
        printf '[api]\nlisten = "127.0.0.1:0"\n\n'
        printf '[storage]\ndir = "%s"\nsegment_duration = "60s"\nmin_free_bytes = "0 B"\n\n' "$WORK/rec"
        for ((i = 1; i <= n; i++)); do
            printf '[[camera]]\nname = "cam%02d"\nrtsp_url = "%s"\n\n' "$i" "$URL"
        done
    } >"$cfg"
    : >"$WORK/daemon.log"
    "$BIN" run --config "$cfg" </dev/null >/dev/null 2>"$WORK/daemon.log" 9>&- &
    DAEMON=$!
    STARTED[$DAEMON]=1
    for ((i = 0; i < 600; i++)); do
        grep -q '"Porchlight is up"' "$WORK/daemon.log" && break
        alive "$DAEMON" || die "porchlight exited: $(tail -5 "$WORK/daemon.log")"
        sleep 0.1
    done
    grep -q '"Porchlight is up"' "$WORK/daemon.log" || die "porchlight not up after 60 s"
    ok=$(wait_streaming "$n" $((20 + n)) "$DAEMON" daemon_streaming)
    alive "$DAEMON" || die "porchlight exited: $(tail -5 "$WORK/daemon.log")"
    ((ok == n)) || log "porchlight-$n: only $ok of $n cameras streaming"
    measure porchlight "$n" "$WORK/rec" "$DAEMON"
    # Health of the run: cameras that went offline, frames dropped (from /metrics).
    api=$(grep -o '"API listening"[^}]*"addr":"[^"]*"\|"addr":"[^"]*"[^}]*"API listening"' "$WORK/daemon.log" \
        | grep -o '"addr":"[^"]*"' | head -1 | cut -d'"' -f4) || true
    dropped="?"
    if [[ -n "$api" ]]; then
        dropped=$(curl -s --max-time 5 "http://$api/metrics" \
            | awk '/^porchlight_recording_frames_dropped_total/ {
                    r = $0; sub(/.*reason="/, "", r); sub(/".*/, "", r); s[r] += $NF; t += $NF }
                END { o = t + 0; for (r in s) o = o " " r "=" s[r]; print o }') || dropped="?"
    fi
    offline=$(grep -c '"Camera offline"' "$WORK/daemon.log" || true)
    R_NOTE[porchlight-$n]="$ok/$n cameras logged \"Streaming\"; offline events: $offline; frames dropped: $dropped"
    stop "$DAEMON"
    DAEMON=""
    rm -rf "$WORK/rec" "$WORK/data"
}

# ---------------------------------------------------------------------- ffmpeg run ----------
FF_DIR=""
FF_N=0
ffmpeg_streaming() {
    local i c=0
    for ((i = 1; i <= FF_N; i++)); do
        [[ -n "$(find "$FF_DIR/cam$(printf %02d "$i")" -type f -size +0 -print -quit 2>/dev/null)" ]] && ((c += 1))
    done
    echo "$c"
}
run_ffmpeg() {
    local n=$1 i d ok pids=() errors
    FF_DIR="$WORK/rec"
    FF_N=$n
    rm -rf "$FF_DIR"
    for ((i = 1; i <= n; i++)); do
        d="$FF_DIR/cam$(printf %02d "$i")"
        mkdir -p "$d"
        # Frigate's record arguments (preset-record-generic), with 60 s segments like Porchlight's.
        ffmpeg -nostdin -hide_banner -loglevel warning -rtsp_transport tcp -i "$URL" \
            -c copy -an -f segment -segment_time 60 -segment_format mp4 -reset_timestamps 1 \
            -strftime 1 "$d/%Y%m%d%H%M%S.mp4" </dev/null >/dev/null 2>"$WORK/ffmpeg-$n-$i.log" 9>&- &
        pids+=($!)
        STARTED[$!]=1
    done
    ok=$(wait_streaming "$n" $((20 + n)) "${pids[*]}" ffmpeg_streaming)
    for i in "${pids[@]}"; do alive "$i" || die "an ffmpeg exited: $(tail -3 "$WORK"/ffmpeg-$n-*.log | tail -5)"; done
    ((ok == n)) || log "ffmpeg-$n: only $ok of $n streams recording"
    measure ffmpeg "$n" "$FF_DIR" "${pids[@]}"
    errors=$(cat "$WORK"/ffmpeg-$n-*.log | grep -vc '^$' || true)
    R_NOTE[ffmpeg-$n]="$ok/$n had started a file before the warm-up; ffmpeg warning lines: $errors"
    stop "${pids[@]}"
    ((KEEP)) || rm -f "$WORK"/ffmpeg-*.log
    rm -rf "$FF_DIR"
}

# ------------------------------------------------------------------------------ runs --------
STARTED_AT=$(date -u +%Y-%m-%dT%H:%MZ)
LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
for n in $COUNTS; do
    start_server
    log "porchlight, N=$n ($URL)"
    run_porchlight "$n"
    stop_server
    start_server
    log "ffmpeg, N=$n ($URL)"
    run_ffmpeg "$n"
    stop_server
done

# --------------------------------------------------------------------------- report ---------
per() { calc "$3" "$1 / $2"; }
report() {
    echo "Recording benchmark: started $STARTED_AT (load average then: $LOAD_AT_START), porchlight $REV, $(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), ${WARMUP} s warm-up, ${RUN_SECS} s window"
    echo "Clip: $(basename "$CLIP"): $CLIP_INFO s, $(calc 2 "$CLIP_BPS / 1e6") Mbit/s"
    echo
    echo "| N | Porchlight CPU % of one core / stream | Porchlight RSS MiB / stream (max) | ffmpeg CPU % / stream | ffmpeg RSS MiB / stream (max) | ffmpeg PSS MiB / stream | CPU ratio Porchlight / ffmpeg |"
    echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    local n p f
    for n in $COUNTS; do
        p=porchlight-$n f=ffmpeg-$n
        printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$n" \
            "$(per "${R_CPU[$p]}" "$n" 3)" "$(per "${R_RSSMAX[$p]}" "$n" 2)" \
            "$(per "${R_CPU[$f]}" "$n" 3)" "$(per "${R_RSSMAX[$f]}" "$n" 2)" "$(per "${R_PSS[$f]}" "$n" 2)" \
            "$(awk -v a="${R_CPU[$p]}" -v b="${R_CPU[$f]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
    done
    echo
    echo "| Run | Streams recording ≥ 90 % of the clip rate | CPU % of one core (total; kernel share) | RSS MiB (max / mean) | PSS MiB (end) | Recorded rate / clip rate | RTSP server CPU % | Machine busy % (of $(($(nproc) * 100))) | Everything else % | Notes |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    for n in $COUNTS; do
        for t in porchlight ffmpeg; do
            k=$t-$n
            printf '| %s | %s | %s (%s %% sys) | %s / %s | %s | %s %% | %s | %s | %s | %s |\n' "$k" "${R_OK[$k]}" \
                "$(calc 2 "${R_CPU[$k]}")" "${R_SYS[$k]}" "${R_RSSMAX[$k]}" "${R_RSSMEAN[$k]}" "${R_PSS[$k]}" \
                "${R_RATE[$k]}" "${R_SRV[$k]}" "${R_MACH[$k]}" \
                "$(calc 0 "${R_MACH[$k]} - ${R_CPU[$k]} - ${R_SRV[$k]}")" "${R_NOTE[$k]}"
        done
    done
}
OUT="$BENCH/record-$(date -u +%Y%m%dT%H%M%SZ).md"
report | tee "$OUT"
log "tables saved to $OUT"
