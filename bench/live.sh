#!/usr/bin/env bash
# Live view (tests/benches/live.rs): against the release daemon recording 4 cameras from the RTSP
# test server's /clock mount (640x360, 25 fps, one shared encoder; every frame carries the
# host's clock), in a real headless Chromium: the first picture after opening a camera (goal
# ≤ 1 s), glass-to-glass latency from the frame's own clock to the moment the browser shows it
# (goal p50 ≤ 500 ms), and the hub's CPU per live viewer with 4 viewers of each of the 4 cameras
# (goal ≤ 0.3 % of a core). Then the recording's own CPU per stream, measured the same way as
# bench/record.sh in the same run, so it can be compared with that bench's earlier results.
# Results: docs/benchmarks.md.
#
#   bench/live.sh                                   # 20 loads, 300 frames, 60 s per CPU phase
#   bench/live.sh --loads 5 --frames 100 --seconds 10 --no-record   # a quick try
#
# Needs chromium and chromium-driver, ffmpeg, and the GStreamer packages of
# tests/peers/rtsp_server.py. Everything listens and connects on 127.0.0.1; the bench stops
# only what it started.
set -euo pipefail
cd "$(dirname "$0")/.."

loads=20
frames=300
seconds=60
record=1
while [[ $# -gt 0 ]]; do
    case "$1" in
    --loads) loads="$2"; shift 2 ;;
    --frames) frames="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --no-record) record=0; shift ;;
    *) echo "usage: $0 [--loads N] [--frames N] [--seconds S] [--no-record]" >&2; exit 2 ;;
    esac
done

echo "commit $(git rev-parse --short HEAD), $(date -u +%Y-%m-%d), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
LIVE_BENCH_LOADS="$loads" LIVE_BENCH_FRAMES="$frames" LIVE_BENCH_SECONDS="$seconds" \
    cargo bench --quiet -p porchlight-e2e --bench live

if [[ $record == 1 ]]; then
    # The recording's CPU per stream in this run (compare with its earlier results).
    bench/record.sh --counts "1 16" --seconds "$seconds" --warmup 10
fi
