#!/usr/bin/env bash
# The part of the official image's entrypoint a project relies on: on an empty PGDATA, create the
# cluster with POSTGRES_USER as superuser (password from POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE),
# create POSTGRES_DB, accept password logins from the network, run /docker-entrypoint-initdb.d/*;
# then run postgres in the foreground as the postgres user.
set -Eeuo pipefail
if [ "${1:0:1}" = - ]; then set -- postgres "$@"; fi
if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	chown -R postgres:postgres "$PGDATA" /var/run/postgresql
	chmod 0700 "$PGDATA"
	exec setpriv --reuid=postgres --regid=postgres --init-groups "$BASH_SOURCE" "$@"
fi
for name in POSTGRES_USER POSTGRES_PASSWORD POSTGRES_DB; do  # NAME_FILE: the value is in that file
	file_var="${name}_FILE"
	if [ -n "${!file_var:-}" ]; then export "$name"="$(< "${!file_var}")"; fi
done
if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
	: "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=$POSTGRES_USER}"
	if [ -z "${POSTGRES_PASSWORD:-}" ]; then
		echo 'Error: the database is uninitialized and POSTGRES_PASSWORD is not set.' >&2
		exit 1
	fi
	initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
		--auth-local=trust --auth-host=scram-sha-256 >/dev/null
	printf "\nlisten_addresses = '*'\n" >> "$PGDATA/postgresql.conf"
	printf '\nhost all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
	pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
	psql=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc --quiet)
	if [ "$POSTGRES_DB" != postgres ]; then
		"${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<< 'CREATE DATABASE :"db";'
	fi
	for f in /docker-entrypoint-initdb.d/*; do
		case "$f" in
			*.sh) . "$f" ;;
			*.sql) "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
		esac
	done
	pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
	echo 'PostgreSQL init process complete; ready for start up.'
fi
exec "$@"
