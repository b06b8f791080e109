#!/bin/sh
# check_3x_spec.sh [FILE...] - a validator of Ignition spec 3.x configs for
# the fields kindling emits, written from Ignition's specification documents
# (docs/configuration-v3_0.md ... configuration-v3_6.md), for 3.5.0 and 3.6.0:
# no Debian Ignition knows them (2.14's ignition-validate stops at
# 3.4.0-experimental).
#
# With FILEs: checks each; prints nothing and exits 0 when all are valid,
# else one line per problem on stderr and exit 1 (like ignition-validate:
# any output is a failure). tests/unit/test_render.c runs it on every 3.5.0
# and 3.6.0 config it renders.
# Without: the counted test: every 3.x golden under tests/golden/ (the shipped
# profiles etcd, etcd-v3, rabbitmq, their combination, and the pointers),
# then documents the validator must refuse. Prints "PASS name" / "FAIL name"
# and the plan and end lines tests/run.sh requires; exits 1 on any FAIL.
#
# What it knows, per the specs (a subset: the keys kindling may write, plus
# luks for the one 3.5 addition): the allowed keys of every object (any other
# is refused: Ignition only warns about unknown keys, and the key is then
# silently ignored); the type of every value; the required keys (path, name,
# source, version); ignition.version exactly one of 3.0.0-3.6.0; httpHeaders
# and sha256 hashes from 3.1.0; hashes "sha512-" + 128 hex or "sha256-" + 64
# hex; luks[].cex from 3.5.0; a file mode is an integer 0-07777 whose
# setuid/setgid/sticky bits (07000) are honoured only from 3.6.0 (3.0-3.5:
# "Setuid/setgid/sticky bits are not supported"); absolute paths, unique
# file paths, unit names and drop-in names; unit names suffixed with a unit
# type, drop-in names with ".conf"; data: URLs that follow RFC 2397 with
# valid percent-escapes.
cd "$(dirname "$0")/../.." || exit 1
PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3
exec "$PY" - "$@" <<'PYEOF'
import copy, glob, json, re, sys

me = "tests/unit/check_3x_spec.sh"

# the spec versions and what each adds (the specs' changelog, as kindling uses it)
VERSIONS = {"3.0.0": 0, "3.1.0": 1, "3.2.0": 2, "3.3.0": 3, "3.4.0": 4, "3.5.0": 5, "3.6.0": 6}
SINCE = {"httpHeaders": 1, "sha256": 1, "cex": 5, "special_mode": 6}
UNIT_TYPES = ("service", "socket", "device", "mount", "automount", "swap", "target",
              "path", "timer", "slice", "scope")

class Checker:
    def __init__(self, minor):
        self.minor = minor
        self.errors = []

    def err(self, where, msg):
        self.errors.append("%s: %s" % (where or "$", msg))

    def obj(self, v, where, allowed, required=()):
        """v must be an object with only the allowed keys and the required ones."""
        if not isinstance(v, dict):
            self.err(where, "must be an object")
            return False
        for k in v:
            if k not in allowed:
                self.err("%s.%s" % (where, k), "is not a key of spec 3.%d.0 here" % self.minor)
        for k in required:
            if k not in v:
                self.err("%s.%s" % (where, k), "is required")
        return True

    def typed(self, v, where, t):
        ok = {"string": lambda x: isinstance(x, str),
              "boolean": lambda x: isinstance(x, bool),
              "integer": lambda x: isinstance(x, int) and not isinstance(x, bool),
              "list": lambda x: isinstance(x, list)}[t](v)
        if not ok:
            self.err(where, "must be a %s" % t)
        return ok

    def fields(self, o, where, spec):
        """spec: key -> type or checker function."""
        for k, t in spec.items():
            if k in o:
                if callable(t):
                    t(o[k], "%s.%s" % (where, k))
                else:
                    self.typed(o[k], "%s.%s" % (where, k), t)

    def hash(self, v, where):
        if not self.typed(v, where, "string"):
            return
        m = re.fullmatch(r"(sha512|sha256)-([0-9a-f]+)", v)
        if not m:
            self.err(where, "must be sha512-<hex> or sha256-<hex>")
        elif m.group(1) == "sha256" and self.minor < SINCE["sha256"]:
            self.err(where, "sha256 hashes need spec 3.1.0")
        elif len(m.group(2)) != (128 if m.group(1) == "sha512" else 64):
            self.err(where, "a %s hash has %d hex digits" % (m.group(1), 128 if m.group(1) == "sha512" else 64))

    def source(self, v, where):
        if not self.typed(v, where, "string"):
            return
        scheme = v.split(":", 1)[0] if ":" in v else ""
        if scheme not in ("http", "https", "tftp", "s3", "arn", "gs", "data"):
            self.err(where, "the URL scheme must be http, https, tftp, s3, arn, gs or data")
        if scheme == "data":
            m = re.fullmatch(r"data:([^,]*),(.*)", v, re.S)
            if not m:
                self.err(where, "a data URL needs a comma (RFC 2397)")
            elif re.search(r"%(?![0-9A-Fa-f]{2})", m.group(2)):
                self.err(where, "a data URL with a bad percent-escape")
            elif re.search(r"[\x00-\x20\x7f\"<>\\^`{|}]", m.group(2)):
                self.err(where, "a data URL with characters that must be percent-encoded")

    def headers(self, v, where):
        if self.minor < SINCE["httpHeaders"]:
            self.err(where, "httpHeaders need spec 3.1.0")
            return
        if not self.typed(v, where, "list"):
            return
        for i, h in enumerate(v):
            w = "%s[%d]" % (where, i)
            if self.obj(h, w, ("name", "value"), ("name",)):
                self.fields(h, w, {"name": "string", "value": "string"})

    def resource(self, v, where, required_source=True):
        keys = ["source", "compression", "verification"]
        if self.minor >= SINCE["httpHeaders"]:
            keys.append("httpHeaders")
        if not self.obj(v, where, keys + ["httpHeaders"], ("source",) if required_source else ()):
            return
        self.fields(v, where, {"source": self.source, "compression": "string",
                               "httpHeaders": self.headers})
        if "compression" in v and v["compression"] not in ("", "gzip"):
            self.err(where + ".compression", "must be null or gzip")
        ver = v.get("verification")
        if ver is not None and self.obj(ver, where + ".verification", ("hash",)):
            self.fields(ver, where + ".verification", {"hash": self.hash})

    def ignition(self, v, where):
        if not self.obj(v, where, ("version", "config", "timeouts", "security", "proxy"), ("version",)):
            return
        cfg = v.get("config")
        if cfg is not None and self.obj(cfg, where + ".config", ("merge", "replace")):
            if "replace" in cfg:
                self.resource(cfg["replace"], where + ".config.replace")
            if "merge" in cfg and self.typed(cfg["merge"], where + ".config.merge", "list"):
                for i, m in enumerate(cfg["merge"]):
                    self.resource(m, "%s.config.merge[%d]" % (where, i))
        t = v.get("timeouts")
        if t is not None and self.obj(t, where + ".timeouts", ("httpResponseHeaders", "httpTotal")):
            self.fields(t, where + ".timeouts", {"httpResponseHeaders": "integer", "httpTotal": "integer"})
        s = v.get("security")
        if s is not None and self.obj(s, where + ".security", ("tls",)):
            tls = s.get("tls")
            if tls is not None and self.obj(tls, where + ".security.tls", ("certificateAuthorities",)):
                cas = tls.get("certificateAuthorities", [])
                if self.typed(cas, where + ".security.tls.certificateAuthorities", "list"):
                    for i, ca in enumerate(cas):
                        self.resource(ca, "%s.security.tls.certificateAuthorities[%d]" % (where, i))

    def owner(self, v, where):
        if self.obj(v, where, ("id", "name")):
            self.fields(v, where, {"id": "integer", "name": "string"})

    def mode(self, v, where):
        if not self.typed(v, where, "integer"):
            return
        if v < 0 or v > 0o7777:
            self.err(where, "must be a mode from 0 to 07777 (as a decimal number)")
        elif v & 0o7000 and self.minor < SINCE["special_mode"]:
            self.err(where, "setuid/setgid/sticky bits (mode %04o) are not supported before spec 3.6.0" % v)

    def path(self, v, where):
        if self.typed(v, where, "string") and not v.startswith("/"):
            self.err(where, "must be an absolute path")

    def storage(self, v, where):
        if not self.obj(v, where, ("disks", "raid", "filesystems", "files", "directories", "links", "luks")):
            return
        paths = set()
        for i, f in enumerate(v.get("files", []) if self.typed(v.get("files", []), where + ".files", "list") else []):
            w = "%s.files[%d]" % (where, i)
            if not self.obj(f, w, ("path", "overwrite", "contents", "append", "mode", "user", "group"), ("path",)):
                continue
            self.fields(f, w, {"path": self.path, "overwrite": "boolean", "mode": self.mode,
                               "user": self.owner, "group": self.owner})
            if "contents" in f:
                self.resource(f["contents"], w + ".contents", required_source=False)
            if f.get("path") in paths:
                self.err(w + ".path", "two files with the path %s" % f.get("path"))
            paths.add(f.get("path"))
        for i, l in enumerate(v.get("luks", []) if self.typed(v.get("luks", []), where + ".luks", "list") else []):
            w = "%s.luks[%d]" % (where, i)
            keys = ["name", "device", "keyFile", "label", "uuid", "options", "wipeVolume", "clevis",
                    "discard", "openOptions"]
            if self.minor >= SINCE["cex"]:
                keys.append("cex")
            if not self.obj(l, w, keys, ("name",)):
                continue
            self.fields(l, w, {"name": "string", "device": self.path, "label": "string",
                               "uuid": "string", "options": "list", "wipeVolume": "boolean",
                               "discard": "boolean", "openOptions": "list"})
            cex = l.get("cex")
            if cex is not None and self.obj(cex, w + ".cex", ("enabled",)):
                self.fields(cex, w + ".cex", {"enabled": "boolean"})

    def systemd(self, v, where):
        if not self.obj(v, where, ("units",)):
            return
        units = v.get("units", [])
        if not self.typed(units, where + ".units", "list"):
            return
        names = set()
        for i, u in enumerate(units):
            w = "%s.units[%d]" % (where, i)
            if not self.obj(u, w, ("name", "enabled", "mask", "contents", "dropins"), ("name",)):
                continue
            self.fields(u, w, {"name": "string", "enabled": "boolean", "mask": "boolean",
                               "contents": "string", "dropins": "list"})
            name = u.get("name")
            if isinstance(name, str) and name.rsplit(".", 1)[-1] not in UNIT_TYPES:
                self.err(w + ".name", "must be suffixed with a unit type (thing.service)")
            if name in names:
                self.err(w + ".name", "two units named %s" % name)
            names.add(name)
            seen = set()
            for j, d in enumerate(u.get("dropins", []) if isinstance(u.get("dropins", []), list) else []):
                dw = "%s.dropins[%d]" % (w, j)
                if not self.obj(d, dw, ("name", "contents"), ("name",)):
                    continue
                self.fields(d, dw, {"name": "string", "contents": "string"})
                if isinstance(d.get("name"), str) and not d["name"].endswith(".conf"):
                    self.err(dw + ".name", "must be suffixed with .conf")
                if d.get("name") in seen:
                    self.err(dw + ".name", "two drop-ins named %s" % d.get("name"))
                seen.add(d.get("name"))

def check(doc):
    """The problems of doc as a list of strings; [] when it is valid."""
    if not isinstance(doc, dict):
        return ["$: must be an object"]
    ver = doc.get("ignition", {}).get("version") if isinstance(doc.get("ignition"), dict) else None
    if ver not in VERSIONS:
        return ["$.ignition.version: %r is not one of %s" % (ver, ", ".join(VERSIONS))]
    c = Checker(VERSIONS[ver])
    c.obj(doc, "$", ("ignition", "storage", "systemd", "passwd", "kernelArguments"), ("ignition",))
    c.ignition(doc["ignition"], "$.ignition")
    if "storage" in doc:
        c.storage(doc["storage"], "$.storage")
    if "systemd" in doc:
        c.systemd(doc["systemd"], "$.systemd")
    return c.errors

def load(path):
    with open(path, "rb") as f:
        return json.loads(f.read().decode("utf-8"))

if len(sys.argv) > 1:
    bad = 0
    for path in sys.argv[1:]:
        try:
            errs = check(load(path))
        except (OSError, ValueError) as e:
            errs = ["not JSON: %s" % e]
        for e in errs:
            print("%s: %s" % (path, e), file=sys.stderr)
        bad += bool(errs)
    sys.exit(1 if bad else 0)

passed = failed = 0
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

# What must be there: every shipped profile in 3.5.0 and 3.6.0, and the pointers.
STEMS = ("etcd", "etcd-v3", "rabbitmq", "etcd+rabbitmq", "pointer", "pointer-full")
NEW = ("3.5.0", "3.6.0")
OLD = ("3.0.0", "3.3.0", "3.4.0")  # also accepted by the real ignition-validate (test_render)
files = ["tests/golden/%s-%s.ign" % (s, v) if not s.startswith("pointer") else
         "tests/golden/pointer-%s%s.ign" % (v, s[7:]) for v in NEW + OLD for s in STEMS
         if v in NEW or s in ("etcd", "rabbitmq", "etcd+rabbitmq", "pointer", "pointer-full")]
print("# plan %s: %d checks" % (me, len(files) + 14))
for path in files:
    try:
        doc = load(path)
        errs = check(doc)
        if not errs and doc["ignition"]["version"] not in path:
            errs = ["version %s does not match the file name" % doc["ignition"]["version"]]
    except (OSError, ValueError) as e:
        errs = [str(e)]
    report(not errs, "valid: " + path.split("/")[-1], "; ".join(errs[:5]))

# The validator must refuse these (each changes one thing of a valid document).
base = load("tests/golden/etcd+rabbitmq-3.5.0.ign")
def refuses(name, change, version="3.5.0"):
    doc = copy.deepcopy(base)
    doc["ignition"]["version"] = version
    change(doc)
    errs = check(doc)
    report(bool(errs), "refuses " + name, "accepted: " + json.dumps(doc)[:200])
def file0(d):
    return d["storage"]["files"][0]
def unit0(d):
    return d["systemd"]["units"][0]
report(check(base) == [], "the base document is valid", "; ".join(check(base)[:5]))
refuses("a setuid file mode (04755) in 3.5.0", lambda d: file0(d).update(mode=0o4755))
refuses("a mode past 07777 in 3.6.0", lambda d: file0(d).update(mode=0o17777), "3.6.0")
refuses("a string mode", lambda d: file0(d).update(mode="0644"))
refuses("an unknown version 3.7.0", lambda d: None, "3.7.0")
refuses("luks cex in 3.4.0", lambda d: d["storage"].update(
    luks=[{"name": "l", "device": "/dev/vdb", "cex": {"enabled": True}}]), "3.4.0")
refuses("a 2.x key (filesystem) in a file", lambda d: file0(d).update(filesystem="root"))
refuses("a 2.x unit key (enable)", lambda d: unit0(d).update(enable=True))
refuses("a file without path", lambda d: file0(d).pop("path"))
refuses("a relative path", lambda d: file0(d).update(path="etc/x"))
refuses("a unit name without a type", lambda d: unit0(d).update(name="etcd-member"))
refuses("a drop-in name without .conf", lambda d: unit0(d)["dropins"][0].update(name="20-x"))
refuses("a short sha512 hash", lambda d: d["ignition"].update(
    config={"replace": {"source": "https://h/x", "verification": {"hash": "sha512-abc"}}}))
# and it accepts what 3.6.0 added
doc = copy.deepcopy(base)
doc["ignition"]["version"] = "3.6.0"
file0(doc)["mode"] = 0o4755
doc["storage"]["luks"] = [{"name": "l", "device": "/dev/vdb", "cex": {"enabled": True}}]
report(check(doc) == [], "accepts mode 04755 and luks cex in 3.6.0", "; ".join(check(doc)[:5]))
ran = passed + failed
if ran != len(files) + 14:
    failed += 1
    print("FAIL %s: planned %d checks, ran %d" % (me, len(files) + 14, ran))
print("# end %s: %d passed, %d failed, 0 skipped" % (me, passed, failed))
sys.exit(1 if failed else 0)
PYEOF
