# Sourced by .ci/run: a throwaway PostgreSQL cluster for the tests.
#
# postgres_start installs Debian's postgresql if its server binaries are
# missing, makes a cluster in a temporary directory (initdb and pg_ctl as
# the unprivileged postgres user when run as root: PostgreSQL refuses
# root), starts it on a free loopback port with trust authentication, and
# exports OMP_TEST_POSTGRES_URL, on which every PostgreSQL test makes a
# database of its own (tests/support/src/postgres.rs). postgres_stop stops
# it and removes the directory.

postgres_bin() {
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
    dirname "$(command -v initdb)"
    return
  fi
  local bin
  bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  [[ -n "$bin" && -x "$bin/initdb" ]] && echo "$bin"
}

postgres_as_owner() {
  if [[ "$(id -u)" == 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

postgres_start() {
  local bin
  bin="$(postgres_bin)" || true
  if [[ -z "$bin" ]]; then
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
    bin="$(postgres_bin)"
  fi
  POSTGRES_CI_BIN="$bin"
  POSTGRES_CI_DIR="$(mktemp -d /tmp/omp-ci-pg.XXXXXX)"
  [[ "$(id -u)" == 0 ]] && chown postgres "$POSTGRES_CI_DIR"
  local port
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  postgres_as_owner "$bin/initdb" -D "$POSTGRES_CI_DIR/data" -U omp --auth=trust -E UTF8 --no-sync >/dev/null
  postgres_as_owner "$bin/pg_ctl" -D "$POSTGRES_CI_DIR/data" -l "$POSTGRES_CI_DIR/log" -w \
    -o "-p $port -k $POSTGRES_CI_DIR -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
  export OMP_TEST_POSTGRES_URL="postgres://omp@127.0.0.1:$port/postgres"
  echo "   PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($POSTGRES_CI_DIR)"
}

postgres_stop() {
  [[ -n "${POSTGRES_CI_DIR:-}" && -d "$POSTGRES_CI_DIR/data" ]] || return 0
  postgres_as_owner "$POSTGRES_CI_BIN/pg_ctl" -D "$POSTGRES_CI_DIR/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$POSTGRES_CI_DIR"
}
