#!/usr/bin/env bash
# Whitespace hygiene over the tracked sources: no trailing spaces, no tabs in C++, a final
# newline everywhere. Prints each offence as FILE:LINE and exits 1 if there is any.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
while IFS= read -r f; do
  [ -f "$f" ] || continue
  if grep -nE '[[:space:]]+$' "$f" | sed "s|^|$f:|" | grep .; then status=1; fi
  case "$f" in
    *.cpp|*.hpp) if grep -nP '\t' "$f" | sed "s|^|$f: tab: |" | grep .; then status=1; fi ;;
  esac
  if [ -s "$f" ] && [ "$(tail -c 1 "$f" | od -An -c | tr -d ' ')" != '\n' ]; then
    echo "$f: no newline at end of file"
    status=1
  fi
done < <(git ls-files '*.cpp' '*.hpp' '*.py' '*.sh' '*.md' '*.json' '*.txt' 'CMakeLists.txt' '.ci/run')
exit "$status"
