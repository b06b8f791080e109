#!/bin/sh
# check_2x_schema.sh - validates the spec 2.x goldens against tests/schema/ignition-2.x.json.
#
# Ignition 2.14's ignition-validate knows only spec 3.x, so the 2.x output is
# checked against a JSON Schema written from the 2.x spec. Needs python3 and
# python3-jsonschema (Debian). Prints "PASS name" / "FAIL name" and the end
# line tests/run.sh requires; exits 1 on any FAIL. Without python3-jsonschema:
# one SKIP, or a FAIL under CI=true (it is in the Makefile's TEST_DEBS).
cd "$(dirname "$0")/../.." || exit 1
PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3
exec "$PY" - <<'PYEOF'
import glob, json, sys

me = "tests/unit/check_2x_schema.sh"
try:
    import jsonschema
except ImportError:
    import os
    if os.environ.get("CI", "") in ("true", "TRUE", "True", "1", "yes"):
        print("FAIL %s: python3-jsonschema is not installed, and CI must run every promised check" % me)
        print("# end %s: 0 passed, 1 failed, 0 skipped" % me)
        sys.exit(1)
    print("SKIP %s: the 2.x goldens against the schema: python3-jsonschema is not installed (make test-deps)" % me)
    print("# end %s: 0 passed, 0 failed, 1 skipped" % me)
    sys.exit(0)

with open("tests/schema/ignition-2.x.json") as f:
    schema = json.load(f)
jsonschema.Draft7Validator.check_schema(schema)
v = jsonschema.Draft7Validator(schema)
failed = passed = 0

def report(ok, name, why=""):
    global failed, passed
    if ok:
        passed += 1
        print("PASS %s: %s" % (me, name))
    else:
        failed += 1
        print("FAIL %s: %s" % (me, name))
        if why:
            print("  " + why, file=sys.stderr)

files = sorted(glob.glob("tests/golden/*-2.[0-9].[0-9]*.ign"))
if not files:
    report(False, "goldens", "no 2.x goldens under tests/golden/")
for path in files:
    with open(path) as f:
        doc = json.load(f)
    errs = sorted(v.iter_errors(doc), key=lambda e: list(e.path))
    why = "; ".join("%s: %s" % ("/".join(map(str, e.path)), e.message) for e in errs[:5])
    version = doc.get("ignition", {}).get("version")
    if not errs and version not in path:
        errs, why = [1], "version %s does not match the file name" % version
    report(not errs, path.split("/")[-1], why)

# The schema must refuse what Ignition 0.x would refuse or warn about.
base = {"ignition": {"version": "2.2.0"},
        "storage": {"files": [{"filesystem": "root", "path": "/etc/x", "mode": 420,
                               "contents": {"source": "data:,x"}}]},
        "systemd": {"units": [{"name": "a.service", "enabled": True, "contents": "[Unit]\n"}]}}
def variant(name, change):
    doc = json.loads(json.dumps(base))
    change(doc)
    report(not v.is_valid(doc) if name != "base" else v.is_valid(doc), "schema " + name)
variant("base", lambda d: None)
variant("refuses version 3.0.0", lambda d: d["ignition"].update(version="3.0.0"))
variant("refuses unit key enable", lambda d: d["systemd"]["units"][0].update(enable=True))
variant("refuses a file without filesystem", lambda d: d["storage"]["files"][0].pop("filesystem"))
variant("refuses overwrite", lambda d: d["storage"]["files"][0].update(overwrite=True))
variant("refuses a string mode", lambda d: d["storage"]["files"][0].update(mode="0644"))
variant("refuses empty units", lambda d: d["systemd"].update(units=[]))
variant("refuses httpHeaders", lambda d: d["ignition"].update(
    config={"replace": {"source": "http://h/x", "httpHeaders": []}}))
variant("refuses security in 2.1.0", lambda d: d["ignition"].update(
    version="2.1.0", security={"tls": {"certificateAuthorities": [{"source": "data:,x"}]}}))
variant("refuses an unknown top-level key", lambda d: d.update(extra={}))
print("# end %s: %d passed, %d failed, 0 skipped" % (me, passed, failed))
sys.exit(1 if failed else 0)
PYEOF
