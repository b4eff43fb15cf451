#!/usr/bin/env bash
# Prints the path of a Python 3.10 interpreter: $PYTHON, then python3.10 on PATH, then pyenv's 3.10.x.
# Exits 1 with a message on stderr when there is none (Rasa 3.6 needs Python 3.10 or older).
set -u
is310() { [ -n "$1" ] && "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' >/dev/null 2>&1; }
candidates=()
[ -n "${PYTHON:-}" ] && candidates+=("$PYTHON")
command -v python3.10 >/dev/null 2>&1 && candidates+=("$(command -v python3.10)")
root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
for p in "$root"/versions/3.10*/bin/python3.10; do [ -x "$p" ] && candidates+=("$p"); done
for p in /usr/bin/python3.10 /usr/local/bin/python3.10; do [ -x "$p" ] && candidates+=("$p"); done
for c in "${candidates[@]}"; do
  if is310 "$c"; then "$c" -c 'import sys; print(sys.executable)'; exit 0; fi
done
echo "bianmin needs Python 3.10 (Rasa 3.6 does not run on 3.11+). Install it (e.g. 'pyenv install 3.10') or set PYTHON=/path/to/python3.10." >&2
exit 1
