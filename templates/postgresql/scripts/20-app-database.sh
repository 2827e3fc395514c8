#!/usr/bin/env bash
# Creates the app role and database; the password is generated once, kept as a credential, and reused on re-runs.
set -euo pipefail

if ! command -v psql >/dev/null 2>&1 || ! command -v pg_isready >/dev/null 2>&1; then
  log_error "psql and pg_isready are not installed (postgresql-client-15); keep the template's apt package group enabled"
  exit 1
fi

for attempt in $(seq 1 30); do
  if runuser -u postgres -- pg_isready --quiet; then
    break
  fi
  if ((attempt == 30)); then
    log_error "PostgreSQL did not accept connections within 30 seconds; see /var/log/postgresql/postgresql-15-main.log"
    exit 1
  fi
  sleep 1
done

password=$(get_credential POSTGRES_APP_PASSWORD || generate_password 32)
# The password reaches psql on stdin, never on a command line; \gexec makes CREATE conditional and so re-runnable.
sql_password=${password//\'/\'\'}
runuser -u postgres -- psql --quiet --no-psqlrc --set ON_ERROR_STOP=1 <<SQL
SELECT 'CREATE ROLE app LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app')\gexec
ALTER ROLE app WITH LOGIN PASSWORD '${sql_password}';
SELECT 'CREATE DATABASE app OWNER app' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'app')\gexec
ALTER DATABASE app OWNER TO app;
SQL

owner=$(runuser -u postgres -- psql --no-psqlrc --tuples-only --no-align --command "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'app'")
if [[ $owner != app ]]; then
  log_error "database app is not owned by role app (owner: ${owner:-none}); see the psql output above"
  exit 1
fi

# Credentials are recorded only once they work.
ip=$(primary_ip)
save_credential POSTGRES_APP_USER app
save_credential POSTGRES_APP_DATABASE app
save_credential POSTGRES_APP_PASSWORD "$password"
save_credential POSTGRES_APP_URL "postgresql://app:$password@${ip:-localhost}:5432/app"
log_info "role app and database app are ready"
