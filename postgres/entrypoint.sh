#!/usr/bin/env bash
# Every start of the compose PostgreSQL (postgres/Dockerfile), before the official entrypoint:
#   1. refuse to start without postgres/archiving.conf mounted (no silent "archiving off");
#   2. as root: copy the pgBackRest config `make up` rendered (read-only mount, secrets in
#      conf.d/ mode 600 owned by whoever ran make up) to the tmpfs /run/pgbackrest, owned by
#      postgres, mode 600; make the repository/spool/log/lock directories postgres's;
#   3. a cluster initialised before archiving existed (an older pgdata volume) gets the include
#      line too (new clusters get it from /docker-entrypoint-initdb.d/10-archiving.sh);
# then exec the official docker-entrypoint.sh with the same arguments.
set -Eeuo pipefail

archiving=/etc/postgresql/archiving.conf
source_dir=/etc/mytv/pgbackrest
run_dir=$(dirname "${PGBACKREST_CONFIG:-/run/pgbackrest/pgbackrest.conf}")
include_line="include '$archiving'"

if [ ! -r "$archiving" ]; then
  echo "mytv-postgres: $archiving is not mounted (compose mounts ../postgres/archiving.conf): refusing to start without WAL archiving" >&2
  exit 1
fi
if [ ! -r "$source_dir/pgbackrest.conf" ]; then
  echo "mytv-postgres: $source_dir/pgbackrest.conf is missing: run make up (it renders it into MYTV_PGBACKREST_CONF_DIR)" >&2
  exit 1
fi

if [ "$(id -u)" = 0 ]; then
  install -d -o postgres -g postgres -m 0700 "$run_dir" "$run_dir/conf.d"
  install -o postgres -g postgres -m 0600 "$source_dir/pgbackrest.conf" "$run_dir/pgbackrest.conf"
  for f in "$source_dir"/conf.d/*.conf; do
    [ -e "$f" ] && install -o postgres -g postgres -m 0600 "$f" "$run_dir/conf.d/"
  done
  # The pgbackrest volume: repository (POSIX), spool, logs, locks and scratch restores.
  install -d -o postgres -g postgres -m 0750 /var/lib/pgbackrest
  for d in repo spool log lock restore; do
    [ -d "/var/lib/pgbackrest/$d" ] || install -d -o postgres -g postgres -m 0750 "/var/lib/pgbackrest/$d"
  done
else
  # Started with --user: the tmpfs is writable (mode 1777) and the mounted files must be readable.
  mkdir -p "$run_dir/conf.d"
  cp "$source_dir/pgbackrest.conf" "$run_dir/"
  for f in "$source_dir"/conf.d/*.conf; do [ -e "$f" ] && cp "$f" "$run_dir/conf.d/"; done
  chmod -R go-rwx "$run_dir"
fi

conf="${PGDATA:-/var/lib/postgresql/data}/postgresql.conf"
if [ -s "${PGDATA:-/var/lib/postgresql/data}/PG_VERSION" ] && ! grep -qxF "$include_line" "$conf"; then
  echo "mytv-postgres: adding WAL archiving ($include_line) to the existing cluster's postgresql.conf"
  printf '\n# WAL archiving (postgres/archiving.conf), added by mytv-postgres-entrypoint.sh\n%s\n' "$include_line" >>"$conf"
fi

exec docker-entrypoint.sh "$@"
