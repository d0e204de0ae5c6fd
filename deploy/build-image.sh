#!/usr/bin/env bash
# Builds the lecternd image without pulling anything: static binaries from the local Go
# toolchain, a tiny root file system, and `docker build` of deploy/Dockerfile.local
# (FROM scratch, so no base image is needed). deploy/Dockerfile is the same image built
# the usual way, for machines that can reach a registry.
#
#   bash deploy/build-image.sh [image-name]      # default lectern/lecternd:local
#
# Needs go, tar and a docker client whose daemon answers (DOCKER_HOST is honoured).
set -euo pipefail
cd "$(dirname "$0")/.."

image="${1:-lectern/lecternd:local}"
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
root="$ctx/rootfs"
mkdir -p "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/tmp" "$ctx/owned/data"

export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -buildvcs=false"
go build -trimpath -ldflags="-s -w" -o "$root/usr/local/bin/lecternd" ./cmd/lecternd
go build -trimpath -ldflags="-s -w" -o "$root/usr/local/bin/lectern-healthcheck" ./deploy/healthcheck

printf 'root:x:0:0:root:/root:/sbin/nologin\nlectern:x:65532:65532:lectern:/data:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nlectern:x:65532:\n' >"$root/etc/group"
ca=/etc/ssl/certs/ca-certificates.crt
if [ -r "$ca" ]; then
	cp "$ca" "$root/etc/ssl/certs/"
else
	echo "build-image.sh: $ca not found: the image will trust no public CA (fine for MinIO/SMB on a private network)" >&2
fi
chmod 0700 "$ctx/owned/data" # COPY --chown gives it to the image's user
chmod 1777 "$root/tmp"
cp deploy/Dockerfile.local "$ctx/Dockerfile"
# DOCKER_BUILDKIT=0: the classic builder ships with every engine (Debian's docker.io has
# no buildx plugin); FROM scratch needs nothing it lacks.
DOCKER_BUILDKIT=0 docker build -q -t "$image" "$ctx" >/dev/null
echo "$image"
