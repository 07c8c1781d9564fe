#!/bin/sh
# Every public function of firmware/store/store*.h is called by some unit test
# (tests/unit/*_test.c): lists those that are not and fails, else prints the
# figure.  ctest runs it as unit.store_calls.  Usage: store_calls.sh [source dir]
cd "${1:-$(dirname "$0")/../..}" || exit 2
fns=$(grep -ho '^[a-z][a-z_ *]*\bvg_store_[a-z_0-9]*(' firmware/store/store*.h | grep -o 'vg_store_[a-z_0-9]*' | sort -u)
total=0
called=0
for f in $fns; do
	total=$((total + 1))
	if grep -q "\\b$f(" tests/unit/*_test.c; then
		called=$((called + 1))
	else
		echo "not called by a unit test: $f"
	fi
done
echo "$called of $total public store functions are called by a unit test"
[ "$total" -gt 0 ] && [ "$called" -eq "$total" ]
