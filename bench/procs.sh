# Process helpers shared by the bench scripts (sourced, not run). The script that sources this
# defines log() and records every PID it starts in STARTED; only those PIDs are ever signalled.

declare -A STARTED # PIDs this script started and has not reaped yet: the only ones it signals

# Whether PID is running (a zombie child waiting to be reaped counts as gone).
alive() {
    local st
    [[ -r /proc/$1/stat ]] || return 1
    read -r st </proc/"$1"/stat 2>/dev/null || return 1
    st=${st##*) }
    [[ "${st:0:1}" != Z ]]
}

# wait_gone PID SECONDS: polls (bounded) until PID is gone; reaps it; fails on timeout.
wait_gone() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        if ! alive "$1"; then
            wait "$1" 2>/dev/null || true
            unset "STARTED[$1]"
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# stop PID...: SIGTERM, up to 20 s to finish, then SIGKILL.
stop() {
    local pid
    for pid; do [[ -n "${STARTED[$pid]:-}" ]] && kill -TERM "$pid" 2>/dev/null || true; done
    for pid; do wait_gone "$pid" 20 || { log "PID $pid ignored SIGTERM; killing"; kill -KILL "$pid" 2>/dev/null || true; wait_gone "$pid" 5 || true; }; done
}

# stop_all: every process this script started, SIGTERM, up to 10 s each, then SIGKILL; reaped.
stop_all() {
    local pid
    for pid in "${!STARTED[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${!STARTED[@]}"; do wait_gone "$pid" 10 || kill -KILL "$pid" 2>/dev/null || true; done
    for pid in "${!STARTED[@]}"; do wait "$pid" 2>/dev/null || true; done
}

# bench_clip SECONDS: sets CLIP to a 1080p25 H.264 clip (libx264 veryfast, 4 Mbit/s, GOP 2 s, no
# B-frames) of at least SECONDS in $BENCH, encoding one (about a minute) if none is there.
bench_clip() {
    local need=$1 c len
    CLIP=""
    for c in "$BENCH"/clip-1080p25-4M-*s.mp4; do
        [[ -f "$c" ]] || continue
        len=${c##*-}; len=${len%s.mp4}
        if [[ "$len" =~ ^[0-9]+$ ]] && ((len >= need)); then CLIP=$c; return; fi
    done
    CLIP="$BENCH/clip-1080p25-4M-${need}s.mp4"
    log "encoding a ${need} s 1080p25 clip (libx264 veryfast, 4 Mbit/s, GOP 2 s, no B-frames) to $CLIP"
    ffmpeg -nostdin -hide_banner -loglevel error -y \
        -f lavfi -i "testsrc2=size=1920x1080:rate=25" -t "$need" \
        -c:v libx264 -preset veryfast -b:v 4M -maxrate 4M -bufsize 8M \
        -g 50 -keyint_min 50 -sc_threshold 0 -bf 0 -pix_fmt yuv420p \
        -movflags +faststart "$CLIP.tmp.mp4"
    mv "$CLIP.tmp.mp4" "$CLIP"
}

