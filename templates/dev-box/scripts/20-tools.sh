#!/usr/bin/env bash
# Sensible system-wide defaults for the tools, then a summary of what is installed.
set -euo pipefail

missing=()
for tool in git gcc make node npm tmux; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]} > 0)); then
  log_error "not installed: ${missing[*]}; keep the template's apt package groups enabled (tools.apt and node.apt install them)"
  exit 1
fi

git config --system init.defaultBranch main
git config --system pull.rebase false

for tool in git gcc make node npm tmux; do
  flag=--version
  [[ $tool == tmux ]] && flag=-V
  log_info "$tool: $("$tool" "$flag" 2>&1 | head -n 1)"
done
