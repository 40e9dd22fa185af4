#!/bin/bash
# What the official image's entrypoint does: run the server in the foreground as rabbitmq.
# RabbitMQ reads RABBITMQ_DEFAULT_USER / RABBITMQ_DEFAULT_PASS from the environment itself.
set -euo pipefail
if [ "${1:-}" = rabbitmq-server ] && [ "$(id -u)" = 0 ]; then
	cookie=/var/lib/rabbitmq/.erlang.cookie
	if [ ! -s "$cookie" ]; then  # before a root CLI call (the healthcheck) can create it root-owned
		(umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -dc 'a-f0-9' | head -c 20 > "$cookie")
	fi
	chown -R rabbitmq:rabbitmq /var/lib/rabbitmq /etc/rabbitmq /var/log/rabbitmq
	chmod 400 "$cookie"
	exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups "$0" "$@"
fi
exec "$@"
