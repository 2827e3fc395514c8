#!/usr/bin/env bash
# Creates the "dev" user (sudo group), sets its password once, and lets it SSH in with root's authorized keys.
set -euo pipefail

user=dev

if id "$user" >/dev/null 2>&1; then
  log_info "user $user already exists"
else
  # The sudo group is a static Debian system group (gid 27), present before the sudo package is.
  useradd --create-home --shell /bin/bash --groups sudo --comment 'Launchpad developer' "$user"
  log_info "created user $user (member of sudo)"
fi

password=$(get_credential DEV_PASSWORD || generate_password 24)
printf '%s:%s\n' "$user" "$password" | chpasswd
save_credential DEV_USER "$user"
save_credential DEV_PASSWORD "$password"

# The SSH key given in the wizard lands in root's authorized_keys; dev gets the same keys.
if [[ -s /root/.ssh/authorized_keys ]]; then
  home=$(getent passwd "$user" | cut -d: -f6 || true)
  home=${home:-/home/$user}
  install -d -m 0700 "$home/.ssh"
  if ! cmp -s /root/.ssh/authorized_keys "$home/.ssh/authorized_keys"; then
    install -m 0600 /root/.ssh/authorized_keys "$home/.ssh/authorized_keys"
    log_info "copied root's authorized SSH keys to $user"
  fi
  # sshd reads the file as the user, so ownership matters; a sandbox with a single mapped uid cannot chown.
  chown -R "$user:$user" "$home/.ssh" || log_warn "could not hand $home/.ssh to $user; run: chown -R $user:$user $home/.ssh"
fi
