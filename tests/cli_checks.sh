# Sourced by the CLI test scripts: checks that count passes and failures, and the closing line.
failures=0
passed=0

# refuse "what" "text the one line must contain" command...: a non-zero exit that is not a signal, exactly one line
# on stderr, and that line names the problem.
refuse() {
  local what=$1 needle=$2
  shift 2
  local err rc
  err=$("$@" 2>&1 >/dev/null)
  rc=$?
  if [[ $rc -eq 0 || $rc -gt 128 ]]; then
    echo "FAIL $what: exit code $rc"; failures=$((failures + 1)); return
  fi
  if [[ $(printf '%s\n' "$err" | grep -c .) -ne 1 ]]; then
    echo "FAIL $what: expected one line on stderr, got:"; printf '%s\n' "$err"; failures=$((failures + 1)); return
  fi
  if [[ $err != *"$needle"* ]]; then
    echo "FAIL $what: '$err' does not mention '$needle'"; failures=$((failures + 1)); return
  fi
  passed=$((passed + 1))
}

# check "what" command...: the command succeeds.
check() {
  local what=$1
  shift
  if "$@"; then passed=$((passed + 1)); else echo "FAIL $what"; failures=$((failures + 1)); fi
}

# The closing line CI reads, and the exit status.
finish() {
  echo "$passed passed, $failures failed"
  [[ $failures -eq 0 ]]
}
