#!/usr/bin/env bash
# Short fuzzing run of the decoders for CI: the cargo-fuzz targets `decode`
# of gmmp-codec/fuzz (GMMP) and of mqtt-codec/fuzz (MQTT and OneNET $dp),
# sharing one time budget. Fails on any crash, leak or timeout the fuzzer
# reports, and keeps the input that caused it.
#
#   scripts/fuzz-ci.sh                      # from the workspace root, 60 s in all
#   FUZZ_SECONDS=600 scripts/fuzz-ci.sh     # a longer run
#
# - FUZZ_SECONDS is the total: GMMP gets the larger half, MQTT the rest
#   (at least 1 s each, since libFuzzer reads -max_total_time=0 as "no
#   limit"). GMMP runs first; a GMMP failure stops the script before MQTT.
# - cargo-fuzz is installed with `cargo install --locked` into
#   target/fuzz-tools (pinned version) and reused when already there.
# - The fuzz build needs nightly flags (-Zsanitizer=address); on the stable
#   toolchain RUSTC_BOOTSTRAP=1 allows them, as for the manual runs.
# - Corpus: target/fuzz-corpus/decode (GMMP) and target/fuzz-corpus/mqtt-decode,
#   seeded from the golden vectors (<crate>/tests/vectors/*.hex) and from
#   <crate>/fuzz/corpus/decode when present (it is not in git); the fuzzer
#   adds to it, so a cached target/ makes later runs start further.
# - A crash input is written to target/fuzz-artifacts/decode/ (GMMP) or
#   target/fuzz-artifacts/mqtt-decode/ and printed in hex, so it can be
#   recovered from the CI log alone. Turn it into a test in
#   <crate>/tests/fuzz_regressions.rs.
# - The two fuzz crates both name their binary `decode`, so each builds in
#   its own directory (target/fuzz, target/fuzz-mqtt).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
CARGO_FUZZ_VERSION="${CARGO_FUZZ_VERSION:-0.13.2}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
TOOLS="$TARGET_DIR/fuzz-tools"

GMMP_SECONDS=$(((FUZZ_SECONDS + 1) / 2))
MQTT_SECONDS=$((FUZZ_SECONDS - GMMP_SECONDS))
((GMMP_SECONDS >= 1)) || GMMP_SECONDS=1
((MQTT_SECONDS >= 1)) || MQTT_SECONDS=1

log() { printf 'fuzz-ci: %s\n' "$*" >&2; }

# 1. cargo-fuzz, pinned, in its own root under target/.
if ! "$TOOLS/bin/cargo-fuzz" --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION\$"; then
    log "installing cargo-fuzz $CARGO_FUZZ_VERSION into $TOOLS"
    cargo install --quiet --locked --root "$TOOLS" --version "$CARGO_FUZZ_VERSION" cargo-fuzz
fi
export PATH="$TOOLS/bin:$PATH"

# fuzz CRATE CORPUS_NAME BUILD_DIR SECONDS WHAT
#   Seeds the corpus, runs CRATE/fuzz's `decode` for SECONDS, and exits 1
#   (after printing every new crash input in hex) when the fuzzer failed.
fuzz() {
    local crate="$1" name="$2" build_dir="$3" seconds="$4" what="$5"
    local corpus="$TARGET_DIR/fuzz-corpus/$name"
    local artifacts="$TARGET_DIR/fuzz-artifacts/$name"

    # 2. The seed corpus.
    mkdir -p "$corpus" "$artifacts"
    for hex in "$ROOT/$crate/tests/vectors"/*.hex; do
        local base
        base="vector-$(basename "$hex" .hex)"
        # Hex text to bytes without xxd: every pair becomes a \xHH escape.
        printf '%b' "$(tr -dc '0-9a-fA-F' <"$hex" | sed 's/../\\x&/g')" >"$corpus/$base"
    done
    if [[ -d "$crate/fuzz/corpus/decode" ]]; then
        cp -n "$crate/fuzz/corpus/decode/"* "$corpus/" 2>/dev/null || true
    fi
    log "corpus: $(find "$corpus" -type f | wc -l) inputs in $corpus"

    # 3. The run. libFuzzer exits non-zero on a crash, a leak, an input
    #    slower than -timeout, or more memory than -rss_limit_mb.
    local before after status=0
    before="$(find "$artifacts" -type f | wc -l)"
    (
        cd "$crate/fuzz"
        RUSTC_BOOTSTRAP=1 cargo fuzz run decode \
            --target-dir "$build_dir" \
            "$corpus" -- \
            -max_total_time="$seconds" \
            -timeout=10 \
            -rss_limit_mb=2048 \
            -artifact_prefix="$artifacts/" \
            -print_final_stats=1
    ) || status=$?

    after="$(find "$artifacts" -type f | wc -l)"
    if [[ "$status" -ne 0 || "$after" -gt "$before" ]]; then
        log "$what FAILED (exit $status); inputs kept in $artifacts:"
        for f in "$artifacts"/*; do
            [[ -f "$f" ]] || continue
            printf '%s\n  hex: %s\n' "$f" "$(od -An -v -tx1 "$f" | tr -d ' \n')" >&2
        done
        exit 1
    fi
}

fuzz gmmp-codec decode "$TARGET_DIR/fuzz" "$GMMP_SECONDS" "the decoder fuzz target"
log "no crash in ${GMMP_SECONDS} s"
fuzz mqtt-codec mqtt-decode "$TARGET_DIR/fuzz-mqtt" "$MQTT_SECONDS" "the MQTT decoder fuzz target"
log "MQTT: no crash in ${MQTT_SECONDS} s"
