#!/usr/bin/env bash
# Runs every Lectern test: the README's test command, and what CI runs.
#
# It installs and starts what the tests need on a fresh machine: Samba (Debian package,
# when running as root), a MinIO binary (built once from the Go module proxy and
# cached in $(go env GOPATH)/bin), staticcheck (Go module proxy, same cache),
# tus-js-client (npm, for the end-to-end test) and a
# Docker engine (Debian's docker.io) for the harness's Docker path and the image test. The test servers themselves are started by the
# tests, on 127.0.0.1 at free ports.
#
# Extra arguments go to `go test`: `bash deploy/test.sh -short` is the quick mode.
set -euo pipefail
cd "$(dirname "$0")/.."

gobin="$(go env GOPATH)/bin"
export PATH="$gobin:$PATH"

log() { printf '== %s\n' "$*" >&2; }

if ! command -v smbd >/dev/null 2>&1 || ! command -v smbclient >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		log "installing samba and smbclient (Debian packages)"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq samba smbclient >/dev/null
	else
		log "samba is not installed: the SMB tests will skip (install samba and smbclient to run them)"
	fi
fi

# curl runs the README's walkthrough (cmd/lecternd's TestReadmeWalkthrough).
if ! command -v curl >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	log "installing curl (Debian package) for the README walkthrough test"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null
fi

# MinIO pinned to the commit the tests were run against (the module publishes no
# tagged versions; @latest would be whatever its master is on the day).
if ! command -v minio >/dev/null 2>&1; then
	log "building the MinIO server from the Go module proxy (once per machine, a few minutes)"
	GOFLAGS=-buildvcs=false go install github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c
fi

# A Docker engine for the harness's Docker path and the image smoke test: Debian's
# docker.io, started without a bridge or iptables; images are built locally (no
# registry is needed or reached).
if docker_host="$(bash deploy/start-dockerd.sh)"; then
	export DOCKER_HOST="$docker_host"
else
	log "no Docker engine: the Docker-path tests will skip (they fail where CI=true)"
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		log "installing Node.js and npm (Debian packages) for the tus-js-client end-to-end test"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
	fi
fi
if command -v npm >/dev/null 2>&1 && [ ! -d cmd/lecternd/testdata/tusjs/node_modules/tus-js-client ]; then
	log "installing tus-js-client from the npm registry (the end-to-end test's real tus client)"
	npm ci --prefix cmd/lecternd/testdata/tusjs --no-audit --no-fund --loglevel=error
fi

log "go vet"
go vet ./...
# staticcheck (honnef.co/go/tools) finds what vet does not (unused code, deprecated
# calls, suspicious constructs); a finding fails the run. Installed once per machine.
# It is part of the gate: if it cannot be installed the run fails (set -e), it is
# never skipped.
if ! command -v staticcheck >/dev/null 2>&1; then
	log "installing staticcheck v0.7.0 (Go module proxy, once per machine)"
	if ! go install honnef.co/go/tools/cmd/staticcheck@v0.7.0; then
		log "staticcheck could not be installed: the run fails (it is part of the test command)"
		exit 1
	fi
fi
log "staticcheck"
staticcheck ./...
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi

# The tests start their own MinIO and Samba (LECTERN_S3_VIA and LECTERN_SMB_VIA below):
# a server named by the environment could not be stopped by the outage tests nor
# filled by the disk-full tests, so it is not used by the test command.
for v in LECTERN_S3_ENDPOINT LECTERN_S3_ACCESS_KEY LECTERN_S3_SECRET_KEY LECTERN_S3_REGION LECTERN_SMB_URL LECTERN_SMB_PASSWORD; do
	if [ -n "${!v:-}" ]; then
		log "ignoring $v: the tests start their own servers"
	fi
	unset "$v"
done

# With the race detector: the end-to-end tests build lecternd and the CLI with it too
# (cmd/internal/gobuild), so a race in the real server fails the test that drove it.
log "go test -race $*"
LECTERN_S3_VIA=binary LECTERN_SMB_VIA=local go test -race -count=1 -timeout 40m "$@" ./...
if [ -n "${DOCKER_HOST:-}" ]; then
	log "the S3 and SMB suites again, through the harness's Docker path"
	LECTERN_S3_VIA=docker LECTERN_SMB_VIA=docker go test -race -count=1 -timeout 40m "$@" ./backends/s3/ ./backends/smb/
fi
