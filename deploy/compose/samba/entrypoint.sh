#!/bin/sh
# Creates the share's user from SMB_USER and the password in SMB_PASSWORD_FILE (never
# from the environment itself), then runs smbd in the foreground on SMB_PORT.
set -eu
: "${SMB_USER:=lectern}" "${SMB_PORT:=445}"
if [ ! -r "${SMB_PASSWORD_FILE:-}" ]; then
	echo "entrypoint: SMB_PASSWORD_FILE must name a readable file" >&2
	exit 1
fi
id "$SMB_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$SMB_USER"
chown "$SMB_USER" /srv/lectern
chmod 0700 /srv/lectern
pw="$(head -n 1 "$SMB_PASSWORD_FILE")"
printf '%s\n%s\n' "$pw" "$pw" | smbpasswd -s -a "$SMB_USER" >/dev/null
sed -i "s/^\[global\]/[global]\n  smb ports = $SMB_PORT/" /etc/samba/smb.conf
exec smbd --foreground --no-process-group --debug-stdout
