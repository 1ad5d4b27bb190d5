#!/usr/bin/env bash
# Creates the throwaway Secret a CI release on kind reads (existingSecret), from values generated
# here and never printed: random passwords, a random JWT secret, and dummy R2 keys (nothing in CI
# talks to R2). Usage: secrets.sh NAMESPACE
set -euo pipefail
ns=${1:?usage: secrets.sh NAMESPACE}
umask 077
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
pg_password=$(openssl rand -hex 24)
{
  echo "POSTGRES_PASSWORD=${pg_password}"
  echo "DATABASE_URL=postgres://postgres:${pg_password}@postgres:5432/mytv"
  echo "REDIS_URL=redis://redis:6379"
  echo "JWT_SECRET=$(openssl rand -hex 32)"
  echo "R2_ACCESS_KEY_ID=ci-not-used"
  echo "R2_SECRET_ACCESS_KEY=ci-not-used"
} >"$dir/env"
kubectl create secret generic mytv-api-secrets -n "$ns" --from-env-file="$dir/env" >/dev/null
echo "secret mytv-api-secrets created in $ns (values not shown)"
