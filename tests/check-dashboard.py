#!/usr/bin/env python3
"""Checks etc/grafana-memplug.json: valid JSON, the agent, domain and host
node variables, unique panel ids, and a memplug_ query in every panel.

usage: check-dashboard.py DASHBOARD [--names]
With --names, prints the metric family names the panels query, one a line
(tests/e2e/test-metrics-test-driver.sh checks an agent serves each).
"""
import json
import re
import sys


def fail(msg):
    print("check-dashboard: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        try:
            dash = json.load(f)
        except json.JSONDecodeError as e:
            fail("not JSON: %s" % e)
    variables = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
    for name in ("datasource", "instance", "domain", "node"):
        if name not in variables:
            fail("no $%s variable" % name)
    for name in ("domain", "node"):
        if "memplug_" not in variables[name].get("definition", ""):
            fail("$%s is not read from memplug's series" % name)
    ids, names = set(), set()
    panels = [p for p in dash["panels"] if p.get("type") != "row"]
    if not panels:
        fail("no panels")
    for p in dash["panels"]:
        if p.get("id") in ids:
            fail("panel id %s twice" % p.get("id"))
        ids.add(p.get("id"))
        if "gridPos" not in p:
            fail("panel %r has no gridPos" % p.get("title"))
    for p in panels:
        exprs = [t.get("expr", "") for t in p.get("targets", [])]
        if not exprs or not all("memplug_" in e for e in exprs):
            fail("panel %r has a target without a memplug_ query" % p["title"])
        for e in exprs:
            for n in re.findall(r"memplug_[a-z_]+", e):
                names.add(re.sub(r"_(bucket|sum|count)$", "", n))
    if "--names" in sys.argv[2:]:
        print("\n".join(sorted(names)))
    else:
        print("check-dashboard: %d panels, %d series families, variables %s" %
              (len(panels), len(names), ", ".join(sorted(variables))))


if __name__ == "__main__":
    main()
