#!/usr/bin/env bash
# bench/server.sh — the server benchmarks of docs/benchmarks-server.md (SPEC section 8).
#
# Measures, on this machine and in one run, each as a ratio against the raw thing:
#   1. a 256 MiB tus upload to a real lecternd (HTTPS on 127.0.0.1, disk backend in a
#      temporary folder), in one PATCH and in 8 MiB PATCHes, against a plain file copy
#      with fsync and a disk-backend Put of the same bytes on the same file system;
#   2. the download of the stored ciphertext and the small-file GET rate (wrk)
#      against nginx serving the same file from the same disk with the same certificate;
#   3. lecternd's peak RSS during a 1 GiB upload and a 1 GiB download;
#   4. the upload against tusd v2.8.0's own server (file store on the same disk);
#   5. a 256 MiB tus upload to a lecternd on S3 (a MinIO on 127.0.0.1) against
#      minio-go's PutObject of the same file to the same MinIO;
#   and a profile phase (the same server assembled in-process, CPU profiles and the
#   storage time per object) that explains where the time goes.
#
# Usage:  bash bench/server.sh [flags of bench/server]      (run from anywhere)
#   e.g.  bash bench/server.sh -phases upload,download -rounds 5
#         bash bench/server.sh -h                           (all flags)
# Results: report.md, CPU profiles (*.pprof) and their summaries (*.top.txt) in
#   $LECTERN_BENCH_OUT (default /tmp/lectern-bench-server).
#
# Optional: strace (counts system calls per small GET when present); minio, as
# $MINIO, on PATH or in $(go env GOPATH)/bin (deploy/test.sh builds it) for phase 5.
# Needs: Go; nginx and wrk (Debian packages; installed with apt-get when missing and
# run as root); tusd v2.8.0, found as $TUSD, on PATH or in $(go env GOPATH)/bin, else
# built once from the Go module proxy into $(go env GOPATH)/bin (a few minutes).
# Everything listens on free ports of 127.0.0.1 only; every process started is
# stopped and the temporary folders are removed at the end (also on Ctrl-C).
# A full run takes about 5 minutes on a loaded 2-core machine. Not part of go test.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${LECTERN_BENCH_OUT:-/tmp/lectern-bench-server}
bin=$(mktemp -d "${TMPDIR:-/tmp}/lectern-bench-bin.XXXXXX")
trap 'rm -rf "$bin"' EXIT

need_pkg() { # need_pkg <command> <debian package>
  command -v "$1" >/dev/null && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing $2 (apt-get)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null
  fi
  command -v "$1" >/dev/null || { echo "bench/server.sh: $1 missing: install the Debian package $2" >&2; exit 1; }
}
need_pkg nginx nginx
need_pkg wrk wrk

gobin=$(go env GOPATH)/bin
tusd=${TUSD:-$(command -v tusd || true)}
[ -n "$tusd" ] || tusd=$gobin/tusd
if [ ! -x "$tusd" ]; then
  echo "building tusd v2.8.0 into $gobin (once)" >&2
  if ! go install github.com/tus/tusd/v2/cmd/tusd@v2.8.0; then
    # Some proxies refuse the version-list lookup "go install pkg@version" makes;
    # building the same version from a throw-away module needs only that version.
    mod=$bin/tusd-module
    mkdir -p "$mod"
    printf 'module tusdbuild\n\ngo 1.26\n\nrequire github.com/tus/tusd/v2 v2.8.0\n' > "$mod/go.mod"
    printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/tus/tusd/v2/cmd/tusd"\n' > "$mod/tools.go"
    (cd "$mod" && GOFLAGS=-mod=mod go build -o "$gobin/tusd" github.com/tus/tusd/v2/cmd/tusd)
  fi
  tusd=$gobin/tusd
fi

minio=${MINIO:-$(command -v minio || true)}
[ -n "$minio" ] || { [ -x "$gobin/minio" ] && minio=$gobin/minio; } || true

cd "$repo"
go build -o "$bin/lecternd" ./cmd/lecternd
go build -o "$bin/bench-server" ./bench/server
mkdir -p "$out"
"$bin/bench-server" -lecternd "$bin/lecternd" -tusd "$tusd" -nginx "$(command -v nginx)" \
  -wrk "$(command -v wrk)" -strace "$(command -v strace || true)" -minio "$minio" -out "$out" "$@"

# Summaries of the profiles: the server's own work (pprof label side=server), by
# cumulative time, then by own time.
for p in "$out"/*.pprof; do
  [ -e "$p" ] || continue
  { go tool pprof -top -cum -nodecount=45 -tagfocus side=server "$p" 2>&1
    echo; go tool pprof -top -nodecount=25 -tagfocus side=server "$p" 2>&1
    echo; echo "# whole process (server and client):"; go tool pprof -top -nodecount=25 "$p" 2>&1
  } > "${p%.pprof}.top.txt"
done
echo "report: $out/report.md" >&2
