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
