#!/bin/sh
# Rebuilds the policies bundled with the daemon (daemon/bundled/) from their sources in plugins/:
# the six example policies, built for wasm32-unknown-unknown with the same flags the tests use
# (tests/src/lib.rs, plugin_dir), then SHA256SUMS and RUSTC rewritten. Needs the wasm32 target
# (`rustup target add wasm32-unknown-unknown`). Commit daemon/bundled/ afterwards; the test
# `bundled_policies_match_their_sources` (tests/tests/bundled.rs) fails while a committed file
# differs from what its source builds to.
set -eu
cd "$(dirname "$0")/.."
cargo run --quiet --locked -p porchlight-e2e --example rebuild_bundled
