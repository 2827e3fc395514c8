#!/usr/bin/env bash
# Makes sure sshd runs and starts at boot, then announces it.
set -euo pipefail

if ! command -v sshd >/dev/null 2>&1; then
  log_error "openssh-server is not installed; keep the template's apt package group enabled (tools.apt lists it)"
  exit 1
fi
systemctl enable --now ssh
if ! ss -Hltn 'sport = :22' | grep -q .; then
  log_error "sshd is not listening on port 22; see: systemctl status ssh"
  exit 1
fi
ip=$(primary_ip)
if [[ -n $ip ]]; then
  register_service ssh 22 "ssh://dev@$ip"
else
  register_service ssh 22
fi
