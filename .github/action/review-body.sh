#!/usr/bin/env bash
# The pull-request comment of the alertpolicy action, in Markdown, on stdout: the verdicts
# of check and test (with their output when they fail) and the diff, always.
# Reads TEMP (where the steps wrote their output), BASE, and CHECK_STATUS, TEST_STATUS,
# DIFF_STATUS (each command's exit code).
set -euo pipefail

verdict() {
  case "$1" in
    0) echo "passed" ;;
    1) echo "**failed**" ;;
    *) echo "**could not run** (exit $1)" ;;
  esac
}

details() {  # a collapsed block holding a command's output
  echo "<details><summary>$1</summary>"
  echo
  echo '```'
  cat "$2"
  echo '```'
  echo
  echo "</details>"
  echo
}

echo "<!-- alertpolicy-review -->"
echo "### Alert policy review"
echo
echo "| step | result |"
echo "| --- | --- |"
echo "| \`alertpolicy check --strict\` | $(verdict "$CHECK_STATUS") |"
echo "| \`alertpolicy test\` | $(verdict "$TEST_STATUS") |"
echo
if [ "$CHECK_STATUS" != 0 ]; then details "check output" "$TEMP/alertpolicy-check.txt"; fi
if [ "$TEST_STATUS" != 0 ]; then details "test output" "$TEMP/alertpolicy-test.txt"; fi
echo "#### Who gains and loses alerts (compared with \`$BASE\`)"
echo
if [ "$DIFF_STATUS" = 0 ]; then
  cat "$TEMP/alertpolicy-diff.md"
else
  details "diff could not run (exit $DIFF_STATUS)" "$TEMP/alertpolicy-diff.md"
fi
