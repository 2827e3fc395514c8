# Shared by the simulator's shims (sourced, POSIX sh). They run inside a CT's bubblewrap sandbox, where /etc, /var
# and /run are the CT's own, so every piece of state they keep lives in the CT like the real thing would.

SIM_STATE=/var/lib/pve-sim
SIM_UNITS=$SIM_STATE/units          # one file per known unit: lines "PORT ADDRESS PROCESS"
SIM_ACTIVE=/run/pve-sim/active      # one empty file per running unit
SIM_FAILED=/run/pve-sim/failed      # one empty file per unit whose main process died (systemd's "failed")
SIM_WANTS=/etc/systemd/system/multi-user.target.wants

# sim_sleep SECONDS: a simulated delay, divided by the simulator's speed.
sim_sleep() {
  sleep "$(awk -v s="$1" -v k="${PVE_SIM_SPEED:-1}" 'BEGIN { printf "%.3f", s / k }')"
}

sim_unit_name() {
  case $1 in
    *.service) printf '%s\n' "${1%.service}" ;;
    *) printf '%s\n' "$1" ;;
  esac
}

sim_unit_known() {
  [ -f "$SIM_UNITS/$1" ] || [ -f "/etc/systemd/system/$1.service" ] || [ -f "/lib/systemd/system/$1.service" ]
}

sim_unit_active() { [ -e "$SIM_ACTIVE/$1" ]; }
sim_unit_failed() { [ -e "$SIM_FAILED/$1" ]; }
sim_unit_enabled() { [ -e "$SIM_WANTS/$1.service" ] || [ -L "$SIM_WANTS/$1.service" ]; }

sim_unit_start() { rm -f "$SIM_FAILED/$1"; mkdir -p "$SIM_ACTIVE" && : >"$SIM_ACTIVE/$1"; }
sim_unit_stop() { rm -f "$SIM_ACTIVE/$1"; }
# The unit's main process died (killed, crashed): inactive, and "failed" until it is started again or reset.
sim_unit_fail() { rm -f "$SIM_ACTIVE/$1"; mkdir -p "$SIM_FAILED" && : >"$SIM_FAILED/$1"; }

sim_unit_enable() {
  mkdir -p "$SIM_WANTS"
  ln -sfn "/lib/systemd/system/$1.service" "$SIM_WANTS/$1.service"
}

# sim_register_unit UNIT [PORT ADDRESS PROCESS]...: makes a unit known, with the sockets it listens on while active.
sim_register_unit() {
  unit=$1
  shift
  mkdir -p "$SIM_UNITS"
  : >"$SIM_UNITS/$unit"
  while [ $# -ge 3 ]; do
    printf '%s %s %s\n' "$1" "$2" "$3" >>"$SIM_UNITS/$unit"
    shift 3
  done
}
