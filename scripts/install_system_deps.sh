#!/usr/bin/env bash
# Install the Prometheus and Alertmanager binaries the tests and the native stack run on,
# from Debian's packages, when they are missing. Idempotent: a second run installs nothing.
#   prometheus               -> prometheus, promtool
#   prometheus-alertmanager  -> prometheus-alertmanager, amtool
#   docker-compose           -> docker-compose (validates the compose file; no engine needed)
#   nodejs, npm              -> node, npm (Grafana's LogQL grammar; `make setup` runs npm ci)
#   victoria-metrics         -> victoria-metrics, vmagent, vmalert (make demo-ha's long-term
#                               store; the Debian unit is not started, see below)
set -euo pipefail

declare -A package_of=(
  [prometheus]=prometheus
  [promtool]=prometheus
  [prometheus-alertmanager]=prometheus-alertmanager
  [amtool]=prometheus-alertmanager
  [docker-compose]=docker-compose
  [node]=nodejs
  [npm]=npm
  [victoria-metrics]=victoria-metrics
)

missing=()
for command in "${!package_of[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing+=("${package_of[$command]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')

if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: missing $packages and no apt-get here." >&2
  echo "Install Prometheus (with promtool), Alertmanager (with amtool), docker-compose and" >&2
  echo "Node.js with npm" >&2
  echo "from your platform's packages, or point PROMTOOL=/path/to/promtool at a binary." >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "error: missing $packages; run: sudo apt-get install -y $packages" >&2
  exit 1
fi

echo "installing Debian packages: $packages"
# Debian's prometheus and victoria-metrics packages enable systemd units; nothing here relies
# on them running (make demo-ha starts its own VictoriaMetrics on 127.0.0.1).
"${sudo[@]}" apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends $packages >/dev/null
