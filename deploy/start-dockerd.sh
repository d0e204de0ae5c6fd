#!/usr/bin/env bash
# Makes sure a Docker engine answers for the harness's Docker path and the image smoke
# test, and prints the DOCKER_HOST to use:
#
#   export DOCKER_HOST="$(bash deploy/start-dockerd.sh)"
#
# If DOCKER_HOST (or the default socket) already answers, that is used. Otherwise, as
# root, it installs Debian's docker.io when missing and starts dockerd in the
# background without a bridge or iptables rules (containers use host networking and
# listen on 127.0.0.1 only; no image is ever pulled), on its own socket
# unix:///run/lectern-docker.sock with its state in /var/lib/lectern-docker, and waits
# until it answers. The daemon is left running for later runs; stop it with
# `kill "$(cat /run/lectern-docker.pid)"`.
#
# Exit status 1 (and a reason on stderr) when no engine can be had.
set -euo pipefail

sock=/run/lectern-docker.sock
root=/var/lib/lectern-docker
log() { printf 'start-dockerd: %s\n' "$*" >&2; }

answers() { # DOCKER_HOST value
	DOCKER_HOST="$1" timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

if command -v docker >/dev/null 2>&1; then
	for h in "${DOCKER_HOST:-}" "unix://$sock" unix:///var/run/docker.sock; do
		if [ -n "$h" ] && answers "$h"; then
			echo "$h"
			exit 0
		fi
	done
fi

if [ "$(id -u)" != 0 ]; then
	log "no Docker engine answers, and starting one needs root"
	exit 1
fi
if ! command -v dockerd >/dev/null 2>&1; then
	if ! command -v apt-get >/dev/null 2>&1; then
		log "no Docker engine answers and dockerd is not installed (no apt-get to install it)"
		exit 1
	fi
	log "installing docker.io (Debian package)"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi

mkdir -p "$root"
log "starting dockerd on unix://$sock (log: $root/dockerd.log)"
# setsid: the daemon outlives this script and the test run that started it.
setsid dockerd --bridge=none --iptables=false --ip6tables=false \
	--data-root "$root/data" --exec-root /run/lectern-docker \
	--pidfile /run/lectern-docker.pid --host "unix://$sock" \
	>"$root/dockerd.log" 2>&1 </dev/null &
for _ in $(seq 1 60); do
	if answers "unix://$sock"; then
		echo "unix://$sock"
		exit 0
	fi
	sleep 0.5
done
log "dockerd did not answer within 30 s; its log ends with:"
tail -n 20 "$root/dockerd.log" >&2
exit 1
