#!/usr/bin/env bash
# Sensible system-wide defaults for the tools, then a summary of what is installed.
set -euo pipefail

if command -v git >/dev/null 2>&1; then
  git config --system init.defaultBranch main
  git config --system pull.rebase false
else
  log_warn "git not found; skipping its defaults"
fi

for tool in git gcc make node npm tmux; do
  flag=--version
  [[ $tool == tmux ]] && flag=-V
  if command -v "$tool" >/dev/null 2>&1; then
    log_info "$tool: $("$tool" "$flag" 2>&1 | head -n 1)"
  else
    log_warn "$tool: not installed"
  fi
done
