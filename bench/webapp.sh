#!/usr/bin/env bash
# The resident's web app: the size of its assets compressed with gzip (goal ≤ 150 KB in all),
# then, in a real headless Chromium against the release daemon with one camera recording from
# the RTSP test server (tests/benches/webapp.rs): how soon the home page is usable after a
# navigation on loopback (goal ≤ 300 ms), and the hub's CPU with no page open against one
# home page open (goal ≤ 0.5 % of a core per page). Results: docs/benchmarks.md.
#
#   bench/webapp.sh                       # 20 page loads, 60 s per CPU phase (about 3 minutes)
#   bench/webapp.sh --loads 5 --seconds 10  # a quick try
#
# Needs chromium and chromium-driver, and the GStreamer packages of tests/peers/rtsp_server.py.
# Everything listens and connects on 127.0.0.1; the bench stops only what it started.
set -euo pipefail
cd "$(dirname "$0")/.."

loads=20
seconds=60
sizes_only=0
while [[ $# -gt 0 ]]; do
    case "$1" in
    --loads) loads="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --sizes-only) sizes_only=1; shift ;;
    *) echo "usage: $0 [--loads N] [--seconds S] [--sizes-only]" >&2; exit 2 ;;
    esac
done

echo "commit $(git rev-parse --short HEAD), $(date -u +%Y-%m-%d), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"

# What the browser downloads: every file the daemon serves under /app/ (the licence texts and
# the vendor README are embedded too, but no page loads them).
assets=daemon/src/web/assets
total_raw=0
total_gz=0
printf '%-44s %9s %9s\n' FILE BYTES GZIP-9
while IFS= read -r f; do
    raw=$(stat -c %s "$f")
    gz=$(gzip -9 -c "$f" | wc -c)
    total_raw=$((total_raw + raw))
    total_gz=$((total_gz + gz))
    printf '%-44s %9d %9d\n' "${f#"$assets"/}" "$raw" "$gz"
done < <(find "$assets" -type f ! -name 'LICENSE*' ! -name 'README.md' | sort)
printf '%-44s %9d %9d  (%s KB gzip)\n' TOTAL "$total_raw" "$total_gz" "$(awk -v b="$total_gz" 'BEGIN { printf "%.1f", b / 1024 }')"

[[ $sizes_only == 1 ]] && exit 0

WEBAPP_BENCH_LOADS="$loads" WEBAPP_BENCH_SECONDS="$seconds" \
    cargo bench --quiet -p porchlight-e2e --bench webapp
