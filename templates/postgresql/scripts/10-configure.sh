#!/usr/bin/env bash
# Listens on the network and lets the app role in from the local network, then restarts PostgreSQL.
set -euo pipefail

confdir=/etc/postgresql/15/main
staged=/opt/launchpad/postgresql/launchpad.conf
hba_rule='host    app             app             samenet                 scram-sha-256'

if [[ ! -f $confdir/postgresql.conf ]]; then
  log_error "PostgreSQL 15 is not installed: $confdir/postgresql.conf is missing; keep the template's apt package group enabled (it installs postgresql, whose package creates the 15/main cluster)"
  exit 1
fi
if [[ ! -f $staged ]]; then
  log_error "$staged is missing; the Deploy Files step should have written it"
  exit 1
fi

install -d -m 0755 -o postgres -g postgres "$confdir/conf.d"
install -m 0644 -o postgres -g postgres "$staged" "$confdir/conf.d/launchpad.conf"
log_info "installed $confdir/conf.d/launchpad.conf (listen_addresses = '*')"
# samenet: any address in a subnet the server is directly on. Widen it in pg_hba.conf if clients live elsewhere.
if ! grep -qxF "$hba_rule" "$confdir/pg_hba.conf"; then
  printf '%s\n' '# Added by Launchpad: the app role may reach the app database from the local network.' "$hba_rule" >>"$confdir/pg_hba.conf"
  log_info "pg_hba.conf: app may connect from the local network (scram-sha-256)"
fi

systemctl enable postgresql
# listen_addresses only changes on a restart, not a reload.
systemctl restart postgresql
