#!/bin/sh
# The docs and scripts tell people to run commands as root, never through
# sudo: a fresh Debian has no sudo, and every command here runs as root.
#   no-sudo.sh SOURCE_ROOT
cd "$1" || exit 1
hits=$(grep -rnE '(^|[[:space:]`$(])sudo [[:alnum:]./$-]' README.md docs scripts bench etc tests/e2e \
	--include='*.md' --include='*.sh' --include='*.[0-9]' --include='*.conf' 2>/dev/null)
[ -z "$hits" ] && { echo "ok: no sudo in docs or scripts"; exit 0; }
echo "these lines use sudo; say 'as root' instead:" >&2
echo "$hits" >&2
exit 1
