#!/usr/bin/env bash
# Announces the database server.
set -euo pipefail

register_service postgresql 5432
