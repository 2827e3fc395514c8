#!/usr/bin/env bash
# Creates the "dev" user with passwordless sudo, sets its password once, and lets it SSH in with root's authorized keys.
set -euo pipefail

user=dev
sudoers=/etc/sudoers.d/launchpad-dev

if ! command -v sudo >/dev/null 2>&1 || ! command -v visudo >/dev/null 2>&1; then
  log_error "sudo is not installed; keep the template's apt package group enabled (tools.apt installs sudo)"
  exit 1
fi

if id "$user" >/dev/null 2>&1; then
  log_info "user $user already exists"
else
  useradd --create-home --shell /bin/bash --groups sudo --comment 'Launchpad developer' "$user"
  log_info "created user $user (member of sudo)"
fi

password=$(get_credential DEV_PASSWORD || generate_password 24)
printf '%s:%s\n' "$user" "$password" | chpasswd
save_credential DEV_USER "$user"
save_credential DEV_PASSWORD "$password"

# dev signs in with an SSH key, so sudo must not ask for a password; visudo checks the rule before it is used.
rule="$user ALL=(ALL:ALL) NOPASSWD: ALL"
if [[ ! -f $sudoers ]] || ! grep -qxF "$rule" "$sudoers"; then
  tmp=$(mktemp)
  printf '# Managed by Launchpad (template dev-box)\n%s\n' "$rule" >"$tmp"
  if ! visudo -cqf "$tmp"; then
    rm -f "$tmp"
    log_error "visudo rejected the sudo rule for $user"
    exit 1
  fi
  install -m 0440 -o root -g root "$tmp" "$sudoers"
  rm -f "$tmp"
  log_info "$user may use sudo without a password ($sudoers)"
fi

# The SSH key given in the wizard lands in root's authorized_keys; dev gets the same keys.
if [[ -s /root/.ssh/authorized_keys ]]; then
  home=$(getent passwd "$user" | cut -d: -f6)
  install -d -m 0700 -o "$user" -g "$user" "$home/.ssh"
  if ! cmp -s /root/.ssh/authorized_keys "$home/.ssh/authorized_keys"; then
    install -m 0600 -o "$user" -g "$user" /root/.ssh/authorized_keys "$home/.ssh/authorized_keys"
    log_info "copied root's authorized SSH keys to $user"
  fi
  # sshd reads the file as the user and refuses keys in files others can change.
  chown -R "$user:$user" "$home/.ssh"
else
  log_info "no SSH key was given; $user signs in with the password under \"Reveal credentials\""
fi
