# Shared by scripts/*: create .venv if missing and (re)install the project when
# pyproject.toml or constraints.txt changed. Sourced, not run.
# Versions come from constraints.txt (scripts/lock regenerates it), so every
# machine and CI install exactly what the tests last passed with.
ensure_venv() {
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  local stamp
  stamp=".venv/.installed-$(cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)"
  if [ ! -f "$stamp" ]; then
    .venv/bin/pip install -q -c constraints.txt --upgrade pip
    .venv/bin/pip install -q -c constraints.txt -e '.[test]'
    rm -f .venv/.installed-*
    touch "$stamp"
  fi
}
