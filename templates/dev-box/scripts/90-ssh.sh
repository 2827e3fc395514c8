#!/usr/bin/env bash
# Makes sure sshd runs and starts at boot, then announces it.
set -euo pipefail

systemctl enable --now ssh
ip=$(primary_ip)
if [[ -n $ip ]]; then
  register_service ssh 22 "ssh://dev@$ip"
else
  register_service ssh 22
fi
