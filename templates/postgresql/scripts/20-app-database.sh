#!/usr/bin/env bash
# Creates the app role and database; the password is generated once, kept as a credential, and reused on re-runs.
set -euo pipefail

password=$(get_credential POSTGRES_APP_PASSWORD || generate_password 32)
save_credential POSTGRES_APP_USER app
save_credential POSTGRES_APP_DATABASE app
save_credential POSTGRES_APP_PASSWORD "$password"
ip=$(primary_ip)
save_credential POSTGRES_APP_URL "postgresql://app:$password@${ip:-localhost}:5432/app"

if ! command -v psql >/dev/null 2>&1 || [[ ! -f /etc/postgresql/15/main/postgresql.conf ]]; then
  log_warn "psql or the PostgreSQL 15 cluster is missing (package not really installed?); skipping role and database creation"
  exit 0
fi

for attempt in $(seq 1 30); do
  if runuser -u postgres -- pg_isready --quiet; then
    break
  fi
  if ((attempt == 30)); then
    log_error "PostgreSQL did not accept connections within 30 seconds; see journalctl -u postgresql@15-main"
    exit 1
  fi
  sleep 1
done

# The password reaches psql on stdin, never on a command line; \gexec makes CREATE conditional and so re-runnable.
sql_password=${password//\'/\'\'}
runuser -u postgres -- psql --quiet --no-psqlrc --set ON_ERROR_STOP=1 <<SQL
SELECT 'CREATE ROLE app LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app')\gexec
ALTER ROLE app WITH LOGIN PASSWORD '${sql_password}';
SELECT 'CREATE DATABASE app OWNER app' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'app')\gexec
SQL
log_info "role app and database app are ready"
