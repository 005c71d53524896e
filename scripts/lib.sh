# Shared by scripts/up and scripts/test: make .venv and install Orca into it when needed.

orca_python() {
  local candidate
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [[ -n "$candidate" ]] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  echo "error: Orca needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
  return 1
}

# ensure_venv EXTRAS: create .venv if missing and (re)install Orca when pyproject.toml changed.
ensure_venv() {
  local extras="$1" python stamp want
  if [[ ! -x .venv/bin/python ]]; then
    python=$(orca_python)
    echo "Creating .venv with $python ..." >&2
    if ! "$python" -m venv .venv 2>/dev/null; then
      # Debian/Ubuntu ship venv separately; install it when we are allowed to.
      if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        local version
        version=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python${version}-venv"
        rm -rf .venv
        "$python" -m venv .venv
      else
        echo "error: '$python -m venv' failed; install your distribution's python3-venv package" >&2
        return 1
      fi
    fi
  fi
  want="$(cat pyproject.toml) extras=$extras"
  stamp=.venv/.orca-install-stamp
  if [[ ! -f $stamp ]] || [[ "$(cat "$stamp")" != "$want" ]]; then
    echo "Installing Orca${extras:+ with [$extras]} into .venv (first run takes a minute) ..." >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras:+[$extras]}"
    printf '%s' "$want" > "$stamp"
  fi
}

# ensure_console_deps: install the web console's npm packages (exactly the lockfile's) when
# package-lock.json changed since the last install.
ensure_console_deps() {
  if ! command -v npm >/dev/null 2>&1; then
    echo "error: the web console needs Node.js 20 or newer with npm (https://nodejs.org)" >&2
    return 1
  fi
  local stamp=frontend/node_modules/.orca-install-stamp want
  want="$(cat frontend/package-lock.json)"
  if [[ ! -f $stamp ]] || [[ "$(cat "$stamp")" != "$want" ]]; then
    echo "Installing the web console's packages (npm ci) ..." >&2
    (cd frontend && npm ci --no-audit --no-fund --loglevel=error)
    printf '%s' "$want" > "$stamp"
  fi
}

# ensure_console_build: build the web console into frontend/dist when its sources are newer
# than the last build (`orca up` serves it at /).
ensure_console_build() {
  ensure_console_deps
  local newest
  newest=$(find frontend/src frontend/index.html frontend/public frontend/package-lock.json \
    frontend/vite.config.ts -newer frontend/dist/index.html 2>/dev/null | head -1 || true)
  if [[ ! -f frontend/dist/index.html ]] || [[ -n $newest ]]; then
    echo "Building the web console ..." >&2
    (cd frontend && npm run --silent build)
  fi
}

# Install Debian packages as root without letting them start services: installing
# openssh-server would start the system's sshd on port 22, so a policy-rc.d that says "no" keeps
# every service down while apt runs (removed again afterwards, if we made it).
apt_install_quietly() {
  local policy=/usr/sbin/policy-rc.d made_policy=""
  echo "Installing $* with apt-get ..." >&2
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && made_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  if [[ -n $made_policy ]]; then rm -f "$policy"; trap - EXIT; fi
}
