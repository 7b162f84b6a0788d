#!/usr/bin/env bash
# Recorded playback in the resident's web app, measured in a real headless Chromium against the
# daemon recording the RTSP test server's /clock camera (tests/tests/playback.rs,
# bench_playback_latency): from a click on the timeline to the first frame shown (goal ≤ 500 ms),
# a seek within what the player has buffered and a seek to a moment it has not (goal ≤ 300 ms).
# Each click or seek outside the buffer is a new GET /api/cameras/{name}/play. Results:
# docs/benchmarks.md.
#
#   bench/playback.sh              # 10 rounds (about 2 minutes with a warm build)
#   bench/playback.sh --rounds 30
#   bench/playback.sh --release    # the daemon and the test built with optimisations
#
# Needs chromium and chromium-driver, ffmpeg, and the GStreamer packages of
# tests/peers/rtsp_server.py. Everything listens and connects on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=10
profile=()
while [[ $# -gt 0 ]]; do
    case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --release) profile=(--release); shift ;;
    *) echo "usage: $0 [--rounds N] [--release]" >&2; exit 2 ;;
    esac
done

echo "commit $(git rev-parse --short HEAD), $(date -u +%Y-%m-%d), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(chromium --version 2>/dev/null || echo 'chromium ?')"
PLAYBACK_BENCH_ROUNDS="$rounds" PORCHLIGHT_REQUIRE_PEERS=1 \
    cargo test "${profile[@]}" -q -p porchlight-e2e --test playback bench_playback_latency -- --ignored --nocapture 2>&1 \
    | grep '^BENCH' | sed 's/^BENCH //'
