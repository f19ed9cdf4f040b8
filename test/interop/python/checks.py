"""The interop scenarios' one way to assert: a failed check says what failed and exits 1; the
passed ones are counted for the closing line."""
import sys

passed = 0


def check(condition, what):
    global passed
    if not condition:
        print(f'FAILED: {what}', file=sys.stderr)
        sys.exit(1)
    passed += 1
