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
