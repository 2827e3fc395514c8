#!/usr/bin/env bash
# Checks that PostgreSQL listens on the network, then announces it.
set -euo pipefail

if ! ss -Hltn 'sport = :5432' | grep -q .; then
  log_error "nothing listens on TCP port 5432; see /var/log/postgresql/postgresql-15-main.log and: systemctl status postgresql"
  exit 1
fi
register_service postgresql 5432
