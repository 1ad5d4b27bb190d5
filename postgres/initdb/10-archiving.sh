#!/usr/bin/env bash
# First start of the compose PostgreSQL only (the official image runs /docker-entrypoint-initdb.d/
# once, on an empty data directory, as postgres, with a socket-only server running): include the
# one copy of the archiving settings, postgres/archiving.conf, and create the pgBackRest stanza.
# pgBackRest reads PGBACKREST_CONFIG / PGBACKREST_CONFIG_INCLUDE_PATH (postgres/Dockerfile) and
# PGBACKREST_STANZA (compose/compose.yaml). The include takes effect at the real start that follows.
set -Eeuo pipefail

include_line="include '/etc/postgresql/archiving.conf'"
conf="$PGDATA/postgresql.conf"
if ! grep -qxF "$include_line" "$conf"; then
  printf '\n# WAL archiving (postgres/archiving.conf), added by 10-archiving.sh at initdb\n%s\n' "$include_line" >>"$conf"
fi

if [ -z "${PGBACKREST_STANZA:-}" ]; then
  echo "10-archiving.sh: PGBACKREST_STANZA is not set (compose/compose.yaml sets it): cannot create the stanza" >&2
  exit 1
fi
# The temporary server listens on the socket only, on ${PGPORT:-5432}: the rendered config's pg1-port.
pgbackrest --log-level-console=info stanza-create
