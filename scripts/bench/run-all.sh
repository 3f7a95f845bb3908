#!/usr/bin/env bash
# Runs every gmmp-bench scenario on this machine and writes the figures.
#
#   scripts/bench/run-all.sh            # everything, default sizes
#   DURATION=5 SESSIONS=2000 scripts/bench/run-all.sh
#   ONLY="tcp-ceiling ingest" scripts/bench/run-all.sh
#   ONLY=events DURATION=5 scripts/bench/run-all.sh
#
# - Builds gmmp-bench and omp-server in release mode.
# - Installs mosquitto from Debian's packages only if it is missing, and runs
#   it on a free loopback port with a minimal config (no persistence).
# - Starts omp-server (release) with a temp data dir, `--provisioning open`,
#   GMMP and HTTP on free loopback ports; a fresh one for `sessions`, so its
#   RSS baseline is not the ingest run's.
# - Runs each scenario bounded by `timeout`; every address is 127.0.0.1.
# - Stops everything it started (trap on EXIT/INT/TERM), removes the temp dir.
# - Writes one JSON object per scenario to $OUT/results.jsonl, the machine
#   description to $OUT/machine.txt, and the Markdown summary with the
#   OMP ÷ reference ratios to $OUT/summary.md (scripts/bench/summarize.py).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-$ROOT/target/bench-results}
DURATION=${DURATION:-10}          # seconds per measured phase
GATEWAYS=${GATEWAYS:-1000}        # ingest / mqtt / tcp client count
SESSIONS=${SESSIONS:-19000}       # idle sessions for `sessions`
HEARTBEAT=${HEARTBEAT:-10}        # seconds between heartbeats in `sessions`
CONTROL_GATEWAYS=${CONTROL_GATEWAYS:-1000}
CONTROL_RATE=${CONTROL_RATE:-1000}   # offered controls/s for the paced control run
CONTROL_UNPACED_GATEWAYS=${CONTROL_UNPACED_GATEWAYS:-100}   # closed-loop clients for the saturation run
PREFILL=${PREFILL:-1000000}       # deliveries in the database for `api`
EVENTS_GATEWAYS=${EVENTS_GATEWAYS:-100}   # ingest phases of `events`
ONLY=${ONLY:-"sqlite-ceiling tcp-ceiling mqtt-ceiling mqtt-omp mqtt-sessions ingest ingest-postgres sessions control api events"}
API_KEY=bench-key
BENCH=$ROOT/target/release/gmmp-bench
OMP=$ROOT/target/release/omp-server

mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: >"$RESULTS"
WORK=$(mktemp -d /tmp/gmmp-bench-run.XXXXXX)
STARTED_PIDS=()

cleanup() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            # Give it 10 s to exit cleanly, then insist.
            for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
    if [[ -n "${STOP_POSTGRES:-}" ]]; then postgres_stop; fi
    rm -rf "$WORK"
}
STOP_POSTGRES=
trap cleanup EXIT INT TERM

log() { echo "[run-all $(date -u +%H:%M:%S)] $*" >&2; }
wants() { [[ " $ONLY " == *" $1 "* ]]; }

# Raise the open-files limit as far as the hard limit allows (sessions needs
# one descriptor per session on each side).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log "open files limit: $(ulimit -n)"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() { # port, seconds
    local port=$1 secs=$2
    for _ in $(seq 1 $((secs * 10))); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    log "nothing listens on 127.0.0.1:$port after ${secs}s"
    return 1
}

# Records a scenario's JSON line, or a "not measured" line with the reason.
record() { # scenario, command...
    local name=$1; shift
    log "$name: $*"
    local out err=$WORK/$name.err
    if out=$(timeout --kill-after=10 "$((DURATION * 4 + 900))" "$@" 2>"$err"); then
        echo "$out" >>"$RESULTS"
        log "$name: $out"
    else
        local status=$?
        # A run whose check failed still printed its figures: keep them.
        if [[ -n "$out" ]]; then echo "$out" >>"$RESULTS"; fi
        local reason
        reason=$(tail -n 3 "$err" | tr '\n' ' ' | sed 's/"/'"'"'/g')
        echo "{\"scenario\":\"$name\",\"not_measured\":true,\"exit\":$status,\"reason\":\"$reason\"}" >>"$RESULTS"
        log "$name failed (exit $status): $reason"
    fi
}

machine() {
    {
        echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "cpus: $(nproc)"
        echo "cpu model: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
        echo "memory: $(free -m | awk '/^Mem:/ {print $2 " MiB"}')"
        echo "kernel: $(uname -sr)"
        echo "os: $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
        echo "rustc: $(rustc --version)"
        echo "open files: $(ulimit -n)"
        echo "ephemeral ports: $(cat /proc/sys/net/ipv4/ip_local_port_range)"
        echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
        if command -v mosquitto >/dev/null; then
            echo "mosquitto: $(mosquitto -h 2>/dev/null | head -1)"
        fi
    } >"$OUT/machine.txt"
}

start_omp() { # name [mqtt address] [omp-server flags…] → sets OMP_PID, GMMP_PORT, HTTP_PORT, DATA_DIR
    local name=$1 mqtt=${2:-none}
    shift $(( $# < 2 ? $# : 2 ))
    DATA_DIR=$WORK/omp-$name
    GMMP_PORT=$(free_port)
    HTTP_PORT=$(free_port)
    "$OMP" --gmmp-listen "127.0.0.1:$GMMP_PORT" --http-listen "127.0.0.1:$HTTP_PORT" --mqtt-listen "$mqtt" --mqtts-listen none \
        --data-dir "$DATA_DIR" --provisioning open --api-key "$API_KEY" \
        --registration-rate-per-ip 100000 --registration-burst-per-ip 100000 "$@" \
        >"$WORK/omp-$name.log" 2>&1 &
    OMP_PID=$!
    STARTED_PIDS+=("$OMP_PID")
    wait_port "$GMMP_PORT" 30
    log "omp-server ($name) pid $OMP_PID gmmp :$GMMP_PORT http :$HTTP_PORT"
}

stop_pid() {
    local pid=$1
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
}

log "building (release)"
(cd "$ROOT" && cargo build --release -p gmmp-bench -p omp-server)

if wants mqtt-ceiling && ! command -v mosquitto >/dev/null; then
    log "installing mosquitto (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null
fi
machine

# --- reference points --------------------------------------------------------
if wants sqlite-ceiling; then
    record sqlite-ceiling "$BENCH" --json sqlite-ceiling --duration "$DURATION" --gateways 1000 \
        --batch 1000 --dir "$WORK"
fi
if wants tcp-ceiling; then
    for n in 100 "$GATEWAYS"; do
        record tcp-ceiling "$BENCH" --json tcp-ceiling --duration "$DURATION" --gateways "$n"
    done
fi
if wants mqtt-ceiling; then
    MQTT_PORT=$(free_port)
    cat >"$WORK/mosquitto.conf" <<EOF
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
persistence false
max_connections -1
log_dest none
EOF
    mosquitto -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.log" 2>&1 &
    MQTT_PID=$!
    STARTED_PIDS+=("$MQTT_PID")
    wait_port "$MQTT_PORT" 10
    for n in 100 "$GATEWAYS"; do
        record mqtt-ceiling "$BENCH" --json mqtt-ceiling --broker "127.0.0.1:$MQTT_PORT" \
            --duration "$DURATION" --gateways "$n" --server-pid "$MQTT_PID" --label mosquitto
    done
    stop_pid "$MQTT_PID"
fi

# --- the OMP ----------------------------------------------------------------
if wants mqtt-omp; then
    # The same clients and load as mqtt-ceiling, against the OMP's MQTT
    # listener: QoS 1 PUBACKed after the commit, beside Mosquitto's figure.
    OMP_MQTT_PORT=$(free_port)
    start_omp mqtt "127.0.0.1:$OMP_MQTT_PORT"
    wait_port "$OMP_MQTT_PORT" 30
    for n in 100 "$GATEWAYS"; do
        record mqtt-omp "$BENCH" --json mqtt-ceiling --broker "127.0.0.1:$OMP_MQTT_PORT" \
            --duration "$DURATION" --gateways "$n" --server-pid "$OMP_PID" --label omp
    done
    stop_pid "$OMP_PID"
fi
if wants mqtt-sessions; then
    # A fresh OMP, so its RSS baseline is not another scenario's.
    OMP_MQTT_PORT=$(free_port)
    start_omp mqtt-sessions "127.0.0.1:$OMP_MQTT_PORT"
    wait_port "$OMP_MQTT_PORT" 30
    record mqtt-sessions "$BENCH" --json mqtt-sessions --broker "127.0.0.1:$OMP_MQTT_PORT" \
        --sessions "$SESSIONS" --ping-period "$HEARTBEAT" --duration "$DURATION" --server-pid "$OMP_PID"
    stop_pid "$OMP_PID"
fi
if wants ingest; then
    start_omp ingest
    record ingest "$BENCH" --json ingest --target "127.0.0.1:$GMMP_PORT" --gateways "$GATEWAYS" \
        --duration "$DURATION" --server-pid "$OMP_PID" --check-db "$DATA_DIR/omp.sqlite3"
    stop_pid "$OMP_PID"
fi
if wants ingest-postgres; then
    # The same ingest with the OMP on PostgreSQL: a throwaway cluster on a
    # free loopback port (scripts/ci/postgres.sh, as in CI), fsync on, as
    # PostgreSQL ships.
    source "$ROOT/scripts/ci/postgres.sh"
    postgres_start
    STOP_POSTGRES=1
    psql -q "$OMP_TEST_POSTGRES_URL" -c "CREATE DATABASE omp_bench"
    start_omp ingest-postgres none --database-url "${OMP_TEST_POSTGRES_URL%/*}/omp_bench"
    record ingest-postgres "$BENCH" --json ingest --target "127.0.0.1:$GMMP_PORT" --gateways "$GATEWAYS" \
        --duration "$DURATION" --server-pid "$OMP_PID"
    # The bench names its scenario `ingest`; this line is the PostgreSQL one.
    python3 - "$RESULTS" <<'PY'
import json, sys
path = sys.argv[1]
lines = open(path).read().splitlines()
last = json.loads(lines[-1])
if last.get("scenario") == "ingest":
    last["scenario"] = "ingest-postgres"
    lines[-1] = json.dumps(last, separators=(",", ":"))
open(path, "w").write("\n".join(lines) + "\n")
PY
    stop_pid "$OMP_PID"
    postgres_stop
    STOP_POSTGRES=
fi
if wants sessions; then
    start_omp sessions
    record sessions "$BENCH" --json sessions --target "127.0.0.1:$GMMP_PORT" --sessions "$SESSIONS" \
        --heartbeat-period "$HEARTBEAT" --duration "$DURATION" --server-pid "$OMP_PID"
    stop_pid "$OMP_PID"
fi
if wants control || wants api; then
    start_omp http
    if wants control; then
        # Paced at the target of 1,000 controls/s over 1,000 gateways (latency
        # at that load), then unpaced with 100 closed-loop clients (the
        # saturation rate; 1,000 closed-loop clients each holding a
        # connection would sit at the HTTP listener's cap of 1,024).
        record control "$BENCH" --json control --target "127.0.0.1:$GMMP_PORT" \
            --api "http://127.0.0.1:$HTTP_PORT" --api-key "$API_KEY" \
            --gateways "$CONTROL_GATEWAYS" --rate "$CONTROL_RATE" --duration "$DURATION" \
            --auth-prefix paced
        record control "$BENCH" --json control --target "127.0.0.1:$GMMP_PORT" \
            --api "http://127.0.0.1:$HTTP_PORT" --api-key "$API_KEY" \
            --gateways "$CONTROL_UNPACED_GATEWAYS" --duration "$DURATION" --auth-prefix unpaced
    fi
    if wants api; then
        record api "$BENCH" --json api --target "127.0.0.1:$GMMP_PORT" \
            --api "http://127.0.0.1:$HTTP_PORT" --api-key "$API_KEY" --gateways 1000 \
            --prefill "$PREFILL" --db "$DATA_DIR/omp.sqlite3" --duration "$DURATION" \
            --server-pid "$OMP_PID"
    fi
    stop_pid "$OMP_PID"
fi

if wants events; then
    # Its own OMP: the phases compare ingest rates, so no other scenario's
    # rows or webhooks may be in the database.
    start_omp events
    record events "$BENCH" --json events --target "127.0.0.1:$GMMP_PORT" \
        --api "http://127.0.0.1:$HTTP_PORT" --api-key "$API_KEY" \
        --gateways "$EVENTS_GATEWAYS" --duration "$DURATION"
    stop_pid "$OMP_PID"
fi

python3 "$ROOT/scripts/bench/summarize.py" "$OUT/machine.txt" "$RESULTS" >"$OUT/summary.md"
log "figures: $RESULTS; summary: $OUT/summary.md"
cat "$OUT/summary.md"
