#!/usr/bin/python3
"""Count test CASES (not executables) from meson's testlog.json; used by scripts/test.

Each line of testlog.json is one finished test executable with its output. Per entry:
  1. a line `dshim-checks: P passed, F failed` (integration scripts) wins; else
  2. Catch2 v2's console summary: `All tests passed (A assertions in N test cases)`,
     `test cases: N | P passed | F failed | X failed as expected` (zero columns are
     left out, numbers may be space-padded) or `No tests ran`; the last one counts;
  3. no summary: the executable counts as one case, passed if meson said OK.
An executable that meson judged bad (crash, timeout, non-zero exit) but whose summary
shows no failure adds one failed case. SKIP adds nothing; EXPECTEDFAIL is a pass.
Several logs may be given (scripts/test adds the sanitizer build's): their cases add up,
and entries of the second and later logs are named with their build directory.
Prints a table, the logs of failing executables, and last `N passed, M failed`.
Exit status: 0 when nothing failed, 1 otherwise.
"""
import argparse
import json
import os
import re
import sys

ANSI = re.compile(r'\x1b\[[0-9;]*[A-Za-z]')
CHECKS = re.compile(r'^\s*dshim-checks:\s*(\d+)\s+passed,\s*(\d+)\s+failed\b', re.M)
ALL_PASSED = re.compile(r'^All tests passed \(\d+ assertions? in (\d+) test cases?\)', re.M)
CASES_ROW = re.compile(r'^test cases:\s*(.*)$', re.M)
NO_TESTS = re.compile(r'^No tests ran\b', re.M)
BAD = {'FAIL', 'TIMEOUT', 'INTERRUPT', 'UNEXPECTEDPASS', 'ERROR'}
LOG_TAIL_LINES = 150


def parse_cases_row(row):
    """Returns (passed, failed) from the text after 'test cases:'."""
    cols = [c.strip() for c in row.split('|')]
    total = int(cols[0]) if cols[0].isdigit() else 0
    failed = 0
    for col in cols[1:]:
        m = re.fullmatch(r'(\d+)\s+(.+)', col)
        if m and m.group(2) == 'failed':
            failed = int(m.group(1))
    # "failed as expected" ([!shouldfail]) cases are passes, so passed = total - failed.
    return total - failed, failed


def catch2_summary(text):
    """Returns (passed, failed) from the last Catch2 summary in text, or None."""
    found = []
    for m in ALL_PASSED.finditer(text):
        found.append((m.start(), (int(m.group(1)), 0)))
    for m in CASES_ROW.finditer(text):
        found.append((m.start(), parse_cases_row(m.group(1))))
    for m in NO_TESTS.finditer(text):
        found.append((m.start(), (0, 0)))
    return max(found)[1] if found else None


def count_entry(entry):
    """Returns (passed, failed, how) for one testlog.json entry."""
    result = entry.get('result', 'ERROR')
    text = ANSI.sub('', (entry.get('stdout') or '') + '\n' + (entry.get('stderr') or ''))
    text = text.replace('\r', '')
    checks = CHECKS.findall(text)
    if checks:
        passed, failed = (int(x) for x in checks[-1])
        how = 'dshim-checks'
    else:
        summary = catch2_summary(text)
        if summary is not None:
            passed, failed = summary
            how = 'catch2'
        elif result == 'SKIP':
            return 0, 0, 'skipped'
        elif result in BAD:
            return 0, 1, 'no summary'
        else:
            return 1, 0, 'exit status'
    if result in BAD and failed == 0:
        failed = 1
        how += ' + ' + result.lower()
    return passed, failed, how


def tail(text, n):
    lines = text.rstrip('\n').split('\n')
    if len(lines) <= n:
        return '\n'.join(lines)
    return '[... %d lines cut ...]\n' % (len(lines) - n) + '\n'.join(lines[-n:])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('testlog', nargs='+', help='path(s) to meson-logs/testlog.json (may be absent)')
    ap.add_argument('--meson-rc', type=int, default=0,
                    help="meson test's exit status; non-zero with no counted failure adds one")
    args = ap.parse_args()

    entries = []
    for i, path in enumerate(args.testlog):
        # .../BUILD/meson-logs/testlog.json -> "BUILD: " for the later logs
        label = os.path.basename(os.path.dirname(os.path.dirname(os.path.abspath(path)))) + ': ' if i else ''
        try:
            with open(path, encoding='utf-8', errors='replace') as f:
                for line in f:
                    line = line.strip()
                    if line:
                        e = json.loads(line)
                        e['name'] = label + e.get('name', '?')
                        entries.append(e)
        except FileNotFoundError:
            pass

    total_pass = total_fail = 0
    failing = []
    rows = []
    for e in entries:
        p, f, how = count_entry(e)
        total_pass += p
        total_fail += f
        rows.append((e.get('name', '?'), e.get('result', '?'), p, f, how))
        if f:
            failing.append(e)

    for e in failing:
        print('\n' + '=' * 30 + ' failed: %s (%s, exit %s) ' % (
            e.get('name'), e.get('result'), e.get('returncode')) + '=' * 10)
        print('$ ' + ' '.join(e.get('command') or []))
        for key in ('stdout', 'stderr'):
            if e.get(key):
                print('--- %s ---' % key)
                print(tail(ANSI.sub('', e[key]), LOG_TAIL_LINES))

    if rows:
        print('\ntest cases per executable:')
        width = max(len(r[0]) for r in rows)
        for name, result, p, f, how in rows:
            print('  %-*s  %-14s %4d passed %4d failed  (%s)' % (width, name, result, p, f, how))
    if args.meson_rc != 0 and total_fail == 0:
        print('meson test exited %d without a failing test case: counted as one failure'
              % args.meson_rc)
        total_fail = 1

    print('%d passed, %d failed' % (total_pass, total_fail))
    return 1 if total_fail else 0


if __name__ == '__main__':
    sys.exit(main())
