#!/usr/bin/env bash
# Puts the Launchpad site in place of Debian's default site and reloads nginx.
set -euo pipefail

site=/etc/nginx/sites-available/launchpad
webroot=/var/www/launchpad
page=$webroot/index.html

if [[ ! -f $site ]]; then
  log_error "$site is missing; the Deploy Files step should have written it"
  exit 1
fi
mkdir -p /etc/nginx/sites-enabled "$webroot"

# The landing page names the container; fill the placeholder once (later runs find nothing to replace).
if [[ -f $page ]] && grep -q '@HOSTNAME@' "$page"; then
  host=$(hostname 2>/dev/null || cat /etc/hostname)
  host=${host//[^A-Za-z0-9.-]/}
  sed -i "s/@HOSTNAME@/${host:-this container}/g" "$page"
  log_info "landing page personalised for ${host:-this container}"
fi

ln -sfn "$site" /etc/nginx/sites-enabled/launchpad
# Debian's default site also claims default_server on port 80; two default servers fail the configuration test.
if [[ -e /etc/nginx/sites-enabled/default || -L /etc/nginx/sites-enabled/default ]]; then
  rm -f /etc/nginx/sites-enabled/default
  log_info "disabled Debian's default site"
fi

if command -v nginx >/dev/null 2>&1; then
  nginx -t
else
  log_warn "nginx binary not found; skipping the configuration test"
fi

systemctl enable --now nginx
systemctl reload nginx
log_info "nginx serves $webroot on port 80"
