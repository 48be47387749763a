#!/usr/bin/env bash
# Runs every Go fuzz target (func FuzzXxx in a _test.go) of the module, one after the other,
# each for FUZZTIME (default 30s), and prints one summary line per target:
#
#   fuzz: <package> <target> execs=<n> new=<n> result=<ok|FAIL input=... log=...>
#
# new counts the inputs that found new coverage this run (go keeps them in its cache, not
# in testdata). Arguments are package patterns (default ./...), e.g.
#
#   FUZZTIME=60s scripts/fuzz.sh ./analyzer/... ./internal/sampleweight
#
# FUZZTIME is any -fuzztime value (60s, 5m, 10000x). FUZZMINIMIZETIME is -fuzzminimizetime
# (default 10s; go's own 60s spends much of a short run minimizing each new input, without
# counting execs). FUZZPARALLEL sets -parallel (default GOMAXPROCS). go test writes a
# failing input to the package's testdata/fuzz/<target>/, which the summary names: once the
# bug is fixed, keep it there as a regression case. Each target's whole output is kept in
# FUZZLOG (default a new temporary directory). Exits 1 if any target failed. Needs only go
# and bash.
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-10s}
FUZZLOG=${FUZZLOG:-$(mktemp -d "${TMPDIR:-/tmp}/weir-fuzz.XXXXXX")}
mkdir -p "$FUZZLOG"
parallel=()
if [[ -n "${FUZZPARALLEL:-}" ]]; then
	parallel=(-parallel "$FUZZPARALLEL")
fi
patterns=("$@")
if [[ ${#patterns[@]} -eq 0 ]]; then
	patterns=(./...)
fi

# Packages whose test files declare a fuzz target (a cheap scan), then the targets as go
# test lists them.
mapfile -t pkgs < <("$GO" list -f '{{.ImportPath}} {{.Dir}} {{join .TestGoFiles " "}} {{join .XTestGoFiles " "}}' "${patterns[@]}" |
	while read -r pkg dir files; do
		for f in $files; do
			if grep -q '^func Fuzz[A-Z0-9_a-z]*(' "$dir/$f"; then
				echo "$pkg ${dir#"$PWD"/}"
				break
			fi
		done
	done)

targets=()
for p in "${pkgs[@]}"; do
	read -r pkg dir <<<"$p"
	if ! list=$("$GO" test -list '^Fuzz' "$pkg" 2>&1); then
		echo "fuzz: $pkg: cannot list its fuzz targets:" >&2
		echo "$list" >&2
		exit 1
	fi
	while read -r name; do
		if [[ "$name" == Fuzz* ]]; then
			targets+=("$pkg $dir $name")
		fi
	done <<<"$list"
done
if [[ ${#targets[@]} -eq 0 ]]; then
	echo "fuzz: no fuzz targets in ${patterns[*]}" >&2
	exit 1
fi
echo "fuzz: ${#targets[@]} targets, $FUZZTIME each, logs in $FUZZLOG"

failed=0
summary=()
for t in "${targets[@]}"; do
	read -r pkg dir name <<<"$t"
	log="$FUZZLOG/${pkg//\//_}.$name.log"
	echo "fuzz: $pkg $name ..."
	rc=0
	"$GO" test -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$FUZZMINIMIZETIME" "${parallel[@]}" "$pkg" >"$log" 2>&1 || rc=$?
	# The last progress line: "fuzz: elapsed: 30s, execs: 123 (4/sec), new interesting: 5 (total: 9)".
	progress=$(grep -E '^fuzz: elapsed: .*execs: ' "$log" | tail -n 1 || true)
	execs=$(sed -nE 's/.*execs: ([0-9]+).*/\1/p' <<<"$progress")
	new=$(sed -nE 's/.*new interesting: ([0-9]+).*/\1/p' <<<"$progress")
	result=ok
	if [[ $rc -ne 0 ]]; then
		failed=1
		result=FAIL
		if input=$(grep -oE 'testdata/fuzz/[^ ]+' "$log" | head -n 1); then
			result="FAIL input=$dir/$input"
		fi
		result="$result log=$log"
		tail -n 30 "$log" >&2
	fi
	line="fuzz: $pkg $name execs=${execs:-0} new=${new:-0} result=$result"
	echo "$line"
	summary+=("$line")
done

echo "fuzz: summary"
printf '%s\n' "${summary[@]}"
exit "$failed"
