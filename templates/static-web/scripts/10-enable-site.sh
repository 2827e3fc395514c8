#!/usr/bin/env bash
# Puts the Launchpad site in place of Debian's default site, checks the configuration and (re)loads nginx.
set -euo pipefail

site=/etc/nginx/sites-available/launchpad
webroot=/var/www/launchpad
page=$webroot/index.html

if ! command -v nginx >/dev/null 2>&1; then
  log_error "nginx is not installed (no nginx binary on PATH); keep the template's apt package group enabled: it installs nginx"
  exit 1
fi
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

if ! nginx -t; then
  log_error "nginx rejects its configuration (see the lines above); fix $site and retry"
  exit 1
fi

systemctl enable --now nginx
# reload picks up the new site when nginx was already running (enable --now does not restart it).
systemctl reload nginx
log_info "nginx serves $webroot on port 80"
