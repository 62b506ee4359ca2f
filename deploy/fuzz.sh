#!/usr/bin/env bash
# Runs every fuzz target of the module, one at a time, for FUZZTIME each
# (default 10s): `make fuzz`, and a step of .ci/run.
#
# The targets are found, not listed: the packages whose _test.go files hold
# a `func Fuzz...` are asked for their targets with `go test -list '^Fuzz'`,
# so a new target runs with no edit here or in the Makefile. The first
# target that fails stops the run, named on stderr; Go then leaves the
# failing input under the package's testdata/fuzz/<target>/, which is what
# to commit beside the fix (it runs as a seed from then on). A pass writes
# nothing under testdata (Go keeps its generated corpus in GOCACHE), and
# the script checks that: a tree changed by a passing run fails it.
#
# One failure is not a finding: Go 1.26's coordinator can fail a target
# with a bare "context deadline exceeded" at the -fuzztime boundary on a
# starved machine (go.dev/issue/75804). It writes no input; when the
# corpus then replays clean, the target counts as passed, said so.
#
# Environment: GO (default go), FUZZTIME (default 10s; anything -fuzztime
# takes, such as 1000x), FUZZPKGS (default ./...: the packages to search).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10s}
read -r -a patterns <<<"${FUZZPKGS:-./...}"

# A fuzz target lives in a _test.go file and gofmt puts its `func` at the
# start of a line: the directories holding such a line are the only
# packages worth compiling to list their targets.
dirs=$($GO list -f '{{.Dir}}' "${patterns[@]}")
pkgs=()
for dir in $dirs; do
	if grep -lqs '^func Fuzz' "$dir"/*_test.go; then
		pkgs+=("$($GO list -f '{{.ImportPath}}' "$dir")")
	fi
done

targets=() # "package target"
for pkg in "${pkgs[@]}"; do
	if ! listed=$($GO test -list '^Fuzz' -run '^$' "$pkg"); then
		printf '%s\n' "$listed" >&2
		echo "fuzz: listing the fuzz targets of $pkg failed" >&2
		exit 1
	fi
	while read -r name; do
		[[ $name =~ ^Fuzz[A-Za-z0-9_]*$ ]] && targets+=("$pkg $name")
	done <<<"$listed"
done
if ((${#targets[@]} == 0)); then
	echo "fuzz: no fuzz target found in ${patterns[*]}" >&2
	exit 1
fi

tree_state() {
	git status --porcelain --untracked-files=all 2>/dev/null || true
}
before=$(tree_state)

echo "fuzz: ${#targets[@]} targets, $FUZZTIME each"
start=$SECONDS
for entry in "${targets[@]}"; do
	pkg=${entry% *}
	name=${entry#* }
	echo "--- fuzz $name ($pkg)"
	t0=$SECONDS
	dir=$($GO list -f '{{.Dir}}' "$pkg")/testdata/fuzz/$name
	inputs_before=$(ls "$dir" 2>/dev/null || true)
	log=$(mktemp)
	status=0
	$GO test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg" >"$log" 2>&1 || status=$?
	cat "$log"
	if ((status != 0)); then
		# Go 1.26's fuzz coordinator can fail a target with a bare
		# "context deadline exceeded" at the -fuzztime boundary when a
		# starved worker misses its stop (go.dev/issue/75804, fixed in
		# Go 1.27). That failure writes no input. Only then, and only
		# if the seeds and the corpus replay clean, it is a pass.
		inputs_after=$(ls "$dir" 2>/dev/null || true)
		if [[ $inputs_after == "$inputs_before" ]] && grep -q '^    context deadline exceeded$' "$log" &&
			$GO test -run "^${name}\$" "$pkg" >/dev/null; then
			echo "--- $name: the coordinator's deadline race (go.dev/issue/75804), no failing input; its corpus replays clean"
		else
			rm -f "$log"
			echo "fuzz: FAILED: $name in $pkg (the failing input is under its testdata/fuzz/$name/;" \
				"rerun it with: $GO test -run '^$name\$' $pkg)" >&2
			exit 1
		fi
	fi
	rm -f "$log"
	echo "--- $name passed ($((SECONDS - t0))s with the build)"
done

if [[ $(tree_state) != "$before" ]]; then
	echo "fuzz: the targets passed but changed the work tree:" >&2
	diff <(printf '%s\n' "$before") <(tree_state) >&2 || true
	exit 1
fi
echo "fuzz: all ${#targets[@]} targets passed in $((SECONDS - start))s"
