#!/usr/bin/env bash
# Short fuzzing run of the GMMP decoder for CI: the cargo-fuzz target
# `decode` (gmmp-codec/fuzz) for a fixed time budget. Fails on any crash,
# leak or timeout the fuzzer reports, and keeps the input that caused it.
#
#   scripts/fuzz-ci.sh                      # from the workspace root, 60 s
#   FUZZ_SECONDS=600 scripts/fuzz-ci.sh     # a longer run
#
# - cargo-fuzz is installed with `cargo install --locked` into
#   target/fuzz-tools (pinned version) and reused when already there.
# - The fuzz build needs nightly flags (-Zsanitizer=address); on the stable
#   toolchain RUSTC_BOOTSTRAP=1 allows them, as for the manual runs.
# - Corpus: target/fuzz-corpus/decode, seeded from the golden vectors
#   (gmmp-codec/tests/vectors/*.hex) and from gmmp-codec/fuzz/corpus/decode
#   when present (it is not in git); the fuzzer adds to it, so a cached
#   target/ makes later runs start further.
# - A crash input is written to target/fuzz-artifacts/decode/ and printed in
#   hex, so it can be recovered from the CI log alone. Turn it into a test
#   in gmmp-codec/tests/fuzz_regressions.rs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
CARGO_FUZZ_VERSION="${CARGO_FUZZ_VERSION:-0.13.2}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
TOOLS="$TARGET_DIR/fuzz-tools"
CORPUS="$TARGET_DIR/fuzz-corpus/decode"
ARTIFACTS="$TARGET_DIR/fuzz-artifacts/decode"
VECTORS="$ROOT/gmmp-codec/tests/vectors"

log() { printf 'fuzz-ci: %s\n' "$*" >&2; }

# 1. cargo-fuzz, pinned, in its own root under target/.
if ! "$TOOLS/bin/cargo-fuzz" --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION\$"; then
    log "installing cargo-fuzz $CARGO_FUZZ_VERSION into $TOOLS"
    cargo install --quiet --locked --root "$TOOLS" --version "$CARGO_FUZZ_VERSION" cargo-fuzz
fi
export PATH="$TOOLS/bin:$PATH"

# 2. The seed corpus.
mkdir -p "$CORPUS" "$ARTIFACTS"
for hex in "$VECTORS"/*.hex; do
    name="vector-$(basename "$hex" .hex)"
    # Hex text to bytes without xxd: every pair becomes a \xHH escape.
    printf '%b' "$(tr -dc '0-9a-fA-F' <"$hex" | sed 's/../\\x&/g')" >"$CORPUS/$name"
done
if [[ -d gmmp-codec/fuzz/corpus/decode ]]; then
    cp -n gmmp-codec/fuzz/corpus/decode/* "$CORPUS/" 2>/dev/null || true
fi
log "corpus: $(find "$CORPUS" -type f | wc -l) inputs in $CORPUS"

# 3. The run. libFuzzer exits non-zero on a crash, a leak, an input slower
#    than -timeout, or more memory than -rss_limit_mb.
before="$(find "$ARTIFACTS" -type f | wc -l)"
status=0
(
    cd gmmp-codec/fuzz
    RUSTC_BOOTSTRAP=1 cargo fuzz run decode \
        --target-dir "$TARGET_DIR/fuzz" \
        "$CORPUS" -- \
        -max_total_time="$FUZZ_SECONDS" \
        -timeout=10 \
        -rss_limit_mb=2048 \
        -artifact_prefix="$ARTIFACTS/" \
        -print_final_stats=1
) || status=$?

after="$(find "$ARTIFACTS" -type f | wc -l)"
if [[ "$status" -ne 0 || "$after" -gt "$before" ]]; then
    log "the decoder fuzz target FAILED (exit $status); inputs kept in $ARTIFACTS:"
    for f in "$ARTIFACTS"/*; do
        [[ -f "$f" ]] || continue
        printf '%s\n  hex: %s\n' "$f" "$(od -An -v -tx1 "$f" | tr -d ' \n')" >&2
    done
    exit 1
fi
log "no crash in ${FUZZ_SECONDS} s"
