#!/usr/bin/env python3
"""Checks a memplugd metrics page with Prometheus's own parser.

usage: metrics-check.py SOURCE [EXPECT ...]

SOURCE is http://ADDR:PORT/metrics (scraped; the Content-Type must be the
0.0.4 text format) or a file. The page must parse with
prometheus_client.parser.text_string_to_metric_families, every family must
have HELP and a known TYPE, and every histogram's buckets must be
cumulative with +Inf equal to _count. Then each EXPECT must hold:

  NAME{k=v,...}             a sample with exactly these labels exists
  NAME{k=v,...}=VALUE       ... with this value
  NAME{k=v,...}>=VALUE      ... at least this value
  !NAME{k=v,...}            no such sample

Label values in EXPECT may not contain ',' or '}'. Prints one line per
check; exits 1 on the first failure.
"""
import re
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

EXPECT_RE = re.compile(r"^(!?)([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?(?:(>=|=)(.+))?$")


def fail(msg):
    print("metrics-check: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def load(source):
    if not source.startswith("http://"):
        with open(source, encoding="utf-8") as f:
            return f.read()
    with urllib.request.urlopen(source, timeout=10) as r:
        ctype = r.headers.get("Content-Type", "")
        if not ctype.startswith("text/plain; version=0.0.4"):
            fail("Content-Type is %r, not the 0.0.4 text format" % ctype)
        return r.read().decode("utf-8")


def check_histogram(fam):
    series = {}
    for s in fam.samples:
        key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
        h = series.setdefault(key, {"buckets": [], "count": None})
        if s.name.endswith("_bucket"):
            h["buckets"].append((float(s.labels["le"]), s.value))
        elif s.name.endswith("_count"):
            h["count"] = s.value
    for key, h in series.items():
        buckets = sorted(h["buckets"])
        if not buckets or buckets[-1][0] != float("inf"):
            fail("%s%s has no +Inf bucket" % (fam.name, dict(key)))
        counts = [c for _, c in buckets]
        if counts != sorted(counts):
            fail("%s%s buckets are not cumulative: %s" % (fam.name, dict(key), counts))
        if h["count"] != counts[-1]:
            fail("%s%s: _count %s != +Inf bucket %s" % (fam.name, dict(key), h["count"],
                                                         counts[-1]))


def main():
    if len(sys.argv) < 2:
        fail(__doc__)
    text = load(sys.argv[1])
    samples = []
    families = list(text_string_to_metric_families(text))
    for fam in families:
        if not fam.documentation:
            fail("%s has no HELP" % fam.name)
        if fam.type not in ("counter", "gauge", "histogram"):
            fail("%s has type %s" % (fam.name, fam.type))
        if fam.type == "histogram":
            check_histogram(fam)
        samples.extend(fam.samples)
    print("metrics-check: %d families, %d samples parsed" % (len(families), len(samples)))
    for spec in sys.argv[2:]:
        m = EXPECT_RE.match(spec)
        if not m:
            fail("bad expectation %r" % spec)
        negate, name, labels, op, value = m.groups()
        want = dict(kv.split("=", 1) for kv in labels.split(",")) if labels else {}
        found = [s for s in samples if s.name == name and s.labels == want]
        if negate:
            if found:
                fail("%s is there: %s" % (spec[1:], found[0].value))
        elif not found:
            near = [s for s in samples if s.name == name][:5]
            fail("no %s; %s samples: %s" % (spec, name, near))
        elif op == "=" and found[0].value != float(value):
            fail("%s: got %s" % (spec, found[0].value))
        elif op == ">=" and found[0].value < float(value):
            fail("%s: got %s" % (spec, found[0].value))
        print("metrics-check: ok %s%s" % (spec, "" if negate else " (%s)" % found[0].value))


if __name__ == "__main__":
    main()
