#!/bin/sh
# Merge a board's config overlay into a venuegw.conf:
#   board/apply-overlay.sh BASE.conf board/<name>/venuegw.conf > venuegw.conf
# venuegw reads one INI file and refuses a key set twice, so an overlay is
# merged key by key, not appended: a key of the overlay replaces the same key
# of the same section in BASE (in place, the overlay's inline comment kept),
# a key BASE lacks is added at the end of its section, and a section BASE
# lacks is added at the end.  Comment lines of the overlay are not copied
# (commented-out examples stay in the overlay).  Everything else of BASE —
# comments, order, blank lines — is kept as it is.
set -eu
if [ $# -ne 2 ]; then
	echo "usage: $0 BASE.conf OVERLAY.conf > MERGED.conf" >&2
	exit 2
fi
for f in "$1" "$2"; do
	if [ ! -r "$f" ]; then
		echo "apply-overlay: cannot read $f" >&2
		exit 1
	fi
done
exec awk -v overlay="$2" '
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t\r]+$/, "", s); return s }
# "name = value ; comment" -> name ("" for comments, blank and section lines)
function keyof(line,   s) {
	s = trim(line)
	if (s == "" || s ~ /^[;#\[]/ || index(s, "=") == 0)
		return ""
	return trim(substr(s, 1, index(s, "=") - 1))
}
function sectof(line,   s) {
	s = trim(line)
	if (s !~ /^\[[^]]*\]/)
		return ""
	s = substr(s, 2)
	return trim(substr(s, 1, index(s, "]") - 1))
}
# Add the keys of section sec that BASE did not have.
function flush(sec,   i, id) {
	for (i = 1; i <= nkeys; i++) {
		id = okey[i]
		if (osec[id] == sec && !used[id]) {
			print oline[id]
			used[id] = 1
		}
	}
}
BEGIN {
	sec = ""
	while ((getline line < overlay) > 0) {
		if (sectof(line) != "") {
			sec = sectof(line)
			if (!(sec in hassec)) {
				hassec[sec] = 1
				secorder[++nsec] = sec
			}
			continue
		}
		k = keyof(line)
		if (k == "")
			continue
		if (sec == "") {
			printf "apply-overlay: %s: key %s outside any section\n", overlay, k > "/dev/stderr"
			failed = 1
			exit 1
		}
		id = sec SUBSEP k
		if (id in oline) {
			printf "apply-overlay: %s: [%s] %s set twice\n", overlay, sec, k > "/dev/stderr"
			failed = 1
			exit 1
		}
		oline[id] = trim(line)
		osec[id] = sec
		okey[++nkeys] = id
	}
	close(overlay)
	sec = ""
	# Blank lines are held back so that keys added to a section go right
	# after its last line, before the blank lines that separate sections.
	held = ""
}
{
	s = sectof($0)
	if (s != "") {
		flush(sec)
		printf "%s", held
		held = ""
		sec = s
		seen[sec] = 1
		print
		next
	}
	if (trim($0) == "") {
		held = held $0 "\n"
		next
	}
	printf "%s", held
	held = ""
	k = keyof($0)
	id = sec SUBSEP k
	if (k != "" && (id in oline)) {
		print oline[id]
		used[id] = 1
	} else {
		print
	}
}
END {
	if (failed)
		exit 1
	flush(sec)
	printf "%s", held
	for (i = 1; i <= nsec; i++) {
		if (secorder[i] in seen)
			continue
		printf "\n[%s]\n", secorder[i]
		flush(secorder[i])
	}
}
' "$1"
