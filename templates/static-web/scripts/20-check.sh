#!/usr/bin/env bash
# Checks that nginx answers with the Launchpad site, then announces it.
set -euo pipefail

if ! command -v curl >/dev/null 2>&1; then
  log_error "curl is not installed; keep the template's apt package group enabled: it installs curl for this check"
  exit 1
fi
for attempt in $(seq 1 10); do
  if curl -fsS --max-time 2 http://127.0.0.1/healthz >/dev/null; then
    log_info "nginx answers on http://127.0.0.1/ (attempt $attempt)"
    break
  fi
  if ((attempt == 10)); then
    log_error "nginx does not answer on port 80 after 10 attempts; see /var/log/nginx/launchpad.error.log and: systemctl status nginx"
    exit 1
  fi
  sleep 1
done

ip=$(primary_ip)
if [[ -n $ip ]]; then
  register_service http 80 "http://$ip/" nginx
else
  log_warn "no IPv4 address yet; registering the service without a URL"
  register_service http 80 - nginx
fi
