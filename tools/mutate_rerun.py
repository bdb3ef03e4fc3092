"""Run chosen mutants of tools/mutate.py's targets with its own functions (the same mutants and
the same pytest command), for a run that cannot cover a whole target again: a survivor after its
test was written, the lines a change touched, or the rest of a run that was stopped.

    python tools/mutate_rerun.py redact=339,413 ws_decoder=ALL service_lifecycle=REST:run.log

Each argument is ``target=ALL``, ``target=LINE,LINE,...`` or ``target=REST:<log>`` (every mutant
not already reported in ``<log>`` as ``target:line what: result``). Prints one line a mutant.
Mutants are written into this tree (as tools/mutate.py does): run it in a copy you can spare."""
import collections
import re
import sys

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
import mutate as m

names = {x.name for x in m.TARGETS}
if not sys.argv[1:] or any(a.partition("=")[0] not in names or "=" not in a for a in sys.argv[1:]):
    raise SystemExit(__doc__ + "\ntargets: " + ", ".join(sorted(names)))
for arg in sys.argv[1:]:
    name, _, spec = arg.partition("=")
    t = next(x for x in m.TARGETS if x.name == name)
    found, notes = m.mutants(t)
    done: collections.Counter = collections.Counter()
    lines: set[int] | None = None
    if spec.startswith("REST:"):
        for row in open(spec[5:]):
            mm = re.match(rf"{name}:(\d+) (.+?): (killed|survived|timeout)$", row.strip())
            if mm:
                done[(int(mm.group(1)), mm.group(2))] += 1
    elif spec != "ALL":
        lines = {int(x) for x in spec.split(",")}
    path = m.ROOT / t.path
    original = path.read_text()
    status, base = m._run_tests(t, 900)
    if status != "survived":
        status, base = m._run_tests(t, 900)  # once more: a flake under load is not a verdict
    print(f"{name}: baseline {status} {base:.0f}s ({len(found)} mutants)", flush=True)
    if status != "survived":
        print(f"{name}: the unmutated tests fail: skipped", flush=True)
        continue
    try:
        for mu in found:
            if mu.equivalent:
                print(f"{name}:{mu.line} {mu.what}: declared", flush=True)
                continue
            key = (mu.line, mu.what)
            if done[key]:
                done[key] -= 1
                continue
            if lines is not None and mu.line not in lines:
                continue
            path.write_text(m.mutated_source(mu))
            result, _ = m._run_tests(t, max(30.0, base * 4))
            path.write_text(original)
            print(f"{name}:{mu.line} {mu.what}: {result}", flush=True)
    finally:
        path.write_text(original)
