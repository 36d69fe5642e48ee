#!/usr/bin/env bash
# Install (via the Go module proxy) and run a local MinIO server on loopback
# for the storagebench integration tests.
#
# Usage:
#   eval "$(bash .ci/minio.sh start)"   # build if needed, start, print export lines
#   bash .ci/minio.sh stop              # stop the server(s) started by `start`
#   bash .ci/minio.sh install           # only build/install the pinned binary
#   bash .ci/minio.sh path              # print the path of the pinned binary
#
# stdout carries only `export VAR=...` lines (for `start`) or the binary path
# (for `path`); all progress and log output goes to stderr.
#
# Environment (all optional):
#   STORAGEBENCH_TOOLS        where binaries are cached (default ~/.cache/storagebench/bin)
#   STORAGEBENCH_MINIO_VERSION  module version of github.com/minio/minio to build
#   MINIO_PORT                port to bind on 127.0.0.1 (default 9000; if the
#                             default is busy the next free port up to 9099 is used)
#   MINIO_ROOT_USER           access key (default storagebench)
#   MINIO_ROOT_PASSWORD       secret key (default storagebench-minio-secret-key)
#   STORAGEBENCH_MINIO_RUNDIR where pid files live (default ${TMPDIR:-/tmp}/storagebench-minio)
#   STORAGEBENCH_MINIO_TIMEOUT  readiness timeout in seconds (default 60)
#
# MinIO publishes no semver tags to the module proxy (its tags are
# RELEASE.* names), so we pin a pseudo-version.  Its go.mod has no replace
# directives, so `go install module@version` works.
set -euo pipefail

MINIO_MODULE="github.com/minio/minio"
MINIO_VERSION="${STORAGEBENCH_MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
TOOLS_DIR="${STORAGEBENCH_TOOLS:-${HOME:-/root}/.cache/storagebench/bin}"
MINIO_BIN="${TOOLS_DIR}/minio-${MINIO_VERSION}"
RUN_DIR="${STORAGEBENCH_MINIO_RUNDIR:-${TMPDIR:-/tmp}/storagebench-minio}"
READY_TIMEOUT="${STORAGEBENCH_MINIO_TIMEOUT:-60}"
ROOT_USER="${MINIO_ROOT_USER:-storagebench}"
ROOT_PASSWORD="${MINIO_ROOT_PASSWORD:-storagebench-minio-secret-key}"

log() { printf 'minio.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# installed_version BIN -> prints the module version embedded in BIN.
installed_version() {
	go version -m "$1" 2>/dev/null | awk '$1 == "mod" && $2 == "'"$MINIO_MODULE"'" { print $3; exit }'
}

install_minio() {
	if [[ -x "$MINIO_BIN" ]]; then
		local have
		have="$(installed_version "$MINIO_BIN" || true)"
		if [[ "$have" == "$MINIO_VERSION" ]]; then
			log "using cached $MINIO_BIN"
			return 0
		fi
		log "cached $MINIO_BIN reports version '${have:-unknown}', rebuilding"
	fi
	command -v go >/dev/null 2>&1 || die "go is not on PATH; needed to build MinIO"
	mkdir -p "$TOOLS_DIR"
	local gobin
	gobin="$(mktemp -d "${TOOLS_DIR}/.minio-build.XXXXXX")"
	log "building ${MINIO_MODULE}@${MINIO_VERSION} (takes ~3 min on 2 cores)..."
	local start=$SECONDS
	# Run outside any module/workspace so the project's go.mod is not involved.
	if ! (cd / && GOBIN="$gobin" GOWORK=off GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
		go install -trimpath "${MINIO_MODULE}@${MINIO_VERSION}") >&2; then
		rm -rf "$gobin"
		die "go install ${MINIO_MODULE}@${MINIO_VERSION} failed"
	fi
	mv -f "$gobin/minio" "$MINIO_BIN"
	rm -rf "$gobin"
	log "built $MINIO_BIN in $((SECONDS - start))s"
}

# port_in_use PORT -> success if something accepts connections on 127.0.0.1:PORT.
port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# health_ok PORT -> success once the liveness endpoint answers 200 and the
# object layer is initialised (MinIO answers 200 to /minio/health/live while
# still initialising, but then sets "x-minio-server-status: offline").
health_ok() {
	local port=$1 headers
	if command -v curl >/dev/null 2>&1; then
		headers="$(curl -s -i --max-time 2 \
			"http://127.0.0.1:${port}/minio/health/live" 2>/dev/null | tr -d '\r')" || return 1
	else
		headers="$(timeout 2 bash -c '
			exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
			printf "GET /minio/health/live HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n" "$1" >&3
			cat <&3' _ "$port" 2>/dev/null | tr -d '\r')" || return 1
	fi
	grep -q '^HTTP/[0-9.]* 200' <<<"$headers" || return 1
	! grep -qi '^x-minio-server-status: *offline' <<<"$headers"
}

# is_our_minio PID -> success if PID is alive and is a minio server process.
is_our_minio() {
	local pid=$1
	[[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'minio.* server '
}

# stop_pidfile FILE -> stops the server recorded in FILE and removes its data dir.
stop_pidfile() {
	local pidfile=$1 pid datadir
	[[ -f "$pidfile" ]] || return 0
	pid="$(sed -n 1p "$pidfile")"
	datadir="$(sed -n 2p "$pidfile")"
	if is_our_minio "$pid"; then
		log "stopping MinIO pid $pid"
		kill -TERM "$pid" 2>/dev/null || true
		local i
		for ((i = 0; i < 100; i++)); do
			is_our_minio "$pid" || break
			sleep 0.1
		done
		if is_our_minio "$pid"; then
			log "pid $pid did not exit after 10s, sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	# Only remove directories that this script created.
	if [[ -n "$datadir" && -d "$datadir" && "$(basename "$datadir")" == storagebench-minio-data.* ]]; then
		rm -rf "$datadir"
	fi
	rm -f "$pidfile"
}

cmd_stop() {
	local f
	if [[ -n "${STORAGEBENCH_MINIO_PIDFILE:-}" ]]; then
		stop_pidfile "$STORAGEBENCH_MINIO_PIDFILE"
	elif [[ -n "${MINIO_PORT:-}" ]]; then
		stop_pidfile "$RUN_DIR/minio-${MINIO_PORT}.pid"
	else
		shopt -s nullglob
		for f in "$RUN_DIR"/minio-*.pid; do
			stop_pidfile "$f"
		done
	fi
}

cmd_start() {
	install_minio
	mkdir -p "$RUN_DIR"

	local port
	if [[ -n "${MINIO_PORT:-}" ]]; then
		port=$MINIO_PORT
		# A previous run of this script on the same port: replace it with a fresh server.
		stop_pidfile "$RUN_DIR/minio-${port}.pid"
		port_in_use "$port" && die "127.0.0.1:$port is already in use (MINIO_PORT=$port)"
	else
		stop_pidfile "$RUN_DIR/minio-9000.pid"
		port=9000
		while port_in_use "$port"; do
			port=$((port + 1))
			((port <= 9099)) || die "no free port in 127.0.0.1:9000-9099"
		done
	fi
	((${#ROOT_PASSWORD} >= 8)) || die "MINIO_ROOT_PASSWORD must be at least 8 characters"

	local datadir logfile pidfile
	datadir="$(mktemp -d "${TMPDIR:-/tmp}/storagebench-minio-data.XXXXXX")"
	logfile="$RUN_DIR/minio-${port}.log"
	pidfile="$RUN_DIR/minio-${port}.pid"
	mkdir -p "$datadir/data"

	log "starting MinIO on 127.0.0.1:$port (data $datadir/data, log $logfile)"
	#   MINIO_BROWSER=off         no embedded console (and no console port)
	#   MINIO_UPDATE=off          no update checks
	#   MINIO_CALLHOME_ENABLE=off no call-home
	#   MINIO_CI_CD=on            relax checks meant for production (root disk etc.)
	#   HOME                      MinIO writes ~/.minio/certs; keep it in the temp dir
	MINIO_ROOT_USER="$ROOT_USER" \
		MINIO_ROOT_PASSWORD="$ROOT_PASSWORD" \
		MINIO_BROWSER=off \
		MINIO_UPDATE=off \
		MINIO_CALLHOME_ENABLE=off \
		MINIO_CI_CD=on \
		MINIO_REGION="${MINIO_REGION:-us-east-1}" \
		HOME="$datadir" \
		nohup "$MINIO_BIN" server --quiet --anonymous \
		--address "127.0.0.1:${port}" \
		--certs-dir "$datadir/certs" \
		"$datadir/data" </dev/null >"$logfile" 2>&1 &
	local pid=$!
	printf '%s\n%s\n' "$pid" "$datadir" >"$pidfile"

	local deadline=$((SECONDS + READY_TIMEOUT))
	until health_ok "$port"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			log "MinIO exited before becoming ready; last log lines:"
			tail -n 40 "$logfile" >&2 || true
			rm -f "$pidfile"
			rm -rf "$datadir"
			exit 1
		fi
		if ((SECONDS >= deadline)); then
			log "MinIO did not become ready on 127.0.0.1:$port within ${READY_TIMEOUT}s; last log lines:"
			tail -n 40 "$logfile" >&2 || true
			stop_pidfile "$pidfile"
			exit 1
		fi
		sleep 0.2
	done
	log "MinIO ready on http://127.0.0.1:$port (pid $pid)"

	printf 'export STORAGEBENCH_MINIO_ENDPOINT=%q\n' "http://127.0.0.1:${port}"
	printf 'export STORAGEBENCH_MINIO_ACCESS_KEY=%q\n' "$ROOT_USER"
	printf 'export STORAGEBENCH_MINIO_SECRET_KEY=%q\n' "$ROOT_PASSWORD"
	printf 'export STORAGEBENCH_MINIO_REGION=%q\n' "${MINIO_REGION:-us-east-1}"
	printf 'export STORAGEBENCH_MINIO_PID=%q\n' "$pid"
	printf 'export STORAGEBENCH_MINIO_PIDFILE=%q\n' "$pidfile"
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
install) install_minio ;;
path)
	install_minio
	printf '%s\n' "$MINIO_BIN"
	;;
*)
	echo "usage: $0 {start|stop|install|path}" >&2
	exit 2
	;;
esac
