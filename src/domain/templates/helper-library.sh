# shellcheck shell=bash
# Launchpad helper library: installed into the container and sourced before every template script.
# Functions: log_info, log_warn, log_error, save_credential, get_credential, register_service, generate_password,
# primary_ip. Re-sourcing and re-running are safe: credential and service lines are replaced, never duplicated.

export DEBIAN_FRONTEND=noninteractive
LAUNCHPAD_STATE_DIR=${LAUNCHPAD_STATE_DIR:-/etc/launchpad}

log_info() { printf '[INFO] %s\n' "$*"; }
log_warn() { printf '[WARN] %s\n' "$*" >&2; }
log_error() { printf '[ERROR] %s\n' "$*" >&2; }

# _launchpad_put_line FILE KEY LINE: writes LINE into FILE (mode 600) in place of any line starting with KEY,
# through a temporary file and a rename so a crash never leaves a half-written file.
_launchpad_put_line() {
  local file=$1 key=$2 line=$3 tmp existing
  ( umask 077 && mkdir -p "$LAUNCHPAD_STATE_DIR" )
  tmp=$(umask 077 && mktemp "$file.XXXXXX") || return 1
  if [[ -f $file ]]; then
    while IFS= read -r existing || [[ -n $existing ]]; do
      [[ $existing == "$key"* ]] || printf '%s\n' "$existing"
    done <"$file" >"$tmp"
  fi
  printf '%s\n' "$line" >>"$tmp"
  chmod 600 "$tmp" && mv -f "$tmp" "$file"
}

# save_credential KEY VALUE: records a secret for Launchpad to collect (shown behind "Reveal credentials").
save_credential() {
  if [[ $# -ne 2 || ! $1 =~ ^[A-Za-z_][A-Za-z0-9_.-]*$ ]]; then
    log_error "usage: save_credential KEY VALUE (KEY: letters, digits, _ . -)"
    return 2
  fi
  if [[ $2 == *$'\n'* ]]; then
    log_error "save_credential $1: the value must be a single line"
    return 2
  fi
  _launchpad_put_line "$LAUNCHPAD_STATE_DIR/credentials" "$1=" "$1=$2"
}

# get_credential KEY: prints a value saved earlier (so a re-run keeps the same password); status 1 if none.
get_credential() {
  local line
  [[ $# -eq 1 && -f $LAUNCHPAD_STATE_DIR/credentials ]] || return 1
  while IFS= read -r line || [[ -n $line ]]; do
    if [[ $line == "$1="* ]]; then
      printf '%s\n' "${line#"$1="}"
      return 0
    fi
  done <"$LAUNCHPAD_STATE_DIR/credentials"
  return 1
}

# register_service NAME PORT [URL] [UNIT]: announces a service; one line "NAME PORT [URL|-] [UNIT]" in
# /etc/launchpad/services. UNIT is the systemd unit that runs it, checked by Launchpad's health checks (default: NAME;
# `-` for none: only the port and URL are checked). URL `-` (or empty) means none.
register_service() {
  if [[ $# -lt 2 || $# -gt 4 || ! $1 =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ || ! $2 =~ ^[0-9]{1,5}$ ]] || ((10#$2 < 1 || 10#$2 > 65535)); then
    log_error "usage: register_service NAME PORT [URL] [UNIT] (PORT 1-65535)"
    return 2
  fi
  local url=${3:-} unit=${4:-} line
  [[ $url == - ]] && url=''
  if [[ $url =~ [[:space:]] ]]; then
    log_error "register_service $1: the URL must not contain spaces"
    return 2
  fi
  if [[ -n $unit && $unit != - && ! $unit =~ ^[A-Za-z0-9][A-Za-z0-9:_.@-]*$ ]]; then
    log_error "register_service $1: UNIT must be a systemd unit name such as nginx or nginx.service, or - for none"
    return 2
  fi
  line="$1 $((10#$2))"
  if [[ -n $unit ]]; then line+=" ${url:--} $unit"; elif [[ -n $url ]]; then line+=" $url"; fi
  _launchpad_put_line "$LAUNCHPAD_STATE_DIR/services" "$1 " "$line"
  log_info "service $1 registered on port $((10#$2))${url:+ ($url)}${unit:+, unit $unit}"
}

# generate_password [LENGTH]: prints a random alphanumeric password (default 24 characters).
generate_password() {
  local length=${1:-24} password=''
  while ((${#password} < length)); do
    password+=$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom 2>/dev/null | head -c "$length" || true)
  done
  printf '%s\n' "${password:0:length}"
}

# primary_ip: prints the container's first global IPv4 address (empty when it has none yet).
primary_ip() {
  local address=''
  if command -v ip >/dev/null 2>&1; then
    address=$(ip -4 -o addr show scope global 2>/dev/null | awk '/ scope global / && $4 !~ /^127\./ { split($4, a, "/"); print a[1]; exit }')
  fi
  if [[ -z $address ]] && command -v hostname >/dev/null 2>&1; then
    address=$(hostname -I 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^[0-9.]+$/ && $i !~ /^127\./) { print $i; exit } }')
  fi
  printf '%s\n' "$address"
}
