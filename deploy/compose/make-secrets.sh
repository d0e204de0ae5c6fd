#!/usr/bin/env bash
# Writes random secrets for the compose examples into deploy/compose/secrets/ (once:
# existing files are kept). The files are readable by uid 65532, the lecternd image's
# user, and by nobody else but root.
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)/secrets"
mkdir -p "$dir"
chmod 0750 "$dir"
rnd() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
write() { # name content
	[ -e "$dir/$1" ] && return 0
	(umask 077 && printf '%s\n' "$2" >"$dir/$1")
	if [ "$(id -u)" = 0 ]; then chown 65532 "$dir/$1"; fi
}
user="lectern-$(rnd | head -c 8)"
pass="$(rnd)"
write minio-root-user "$user"
write minio-root-password "$pass"
write aws-credentials "$(printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s' \
	"$(head -n1 "$dir/minio-root-user")" "$(head -n1 "$dir/minio-root-password")")"
write smb-password "$(rnd)"
if [ "$(id -u)" != 0 ]; then
	echo "make-secrets.sh: not root: give the files to uid 65532 (chown 65532 $dir/*) so lecternd can read them" >&2
fi
echo "$dir"
