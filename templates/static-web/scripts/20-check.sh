#!/usr/bin/env bash
# Checks that nginx answers, then announces the site.
set -euo pipefail

if command -v nginx >/dev/null 2>&1 && command -v curl >/dev/null 2>&1; then
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    if curl -fsS --max-time 2 http://127.0.0.1/healthz >/dev/null; then
      log_info "nginx answers on http://127.0.0.1/ (attempt $attempt)"
      break
    fi
    if ((attempt == 10)); then
      log_error "nginx does not answer on port 80; see /var/log/nginx/launchpad.error.log"
      exit 1
    fi
    sleep 1
  done
else
  log_warn "nginx or curl not found; skipping the smoke test"
fi

ip=$(primary_ip)
if [[ -n $ip ]]; then
  register_service http 80 "http://$ip/"
else
  log_warn "no IPv4 address yet; registering the service without a URL"
  register_service http 80
fi
