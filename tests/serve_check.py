"""flourish serve against the command line, through its HTTP API (urllib and http.client).

    serve_check.py api FLOURISH SRC       expect, yaml and run answers equal the files that
                                          `flourish expect --set` and `flourish run --set`
                                          write (h5py), errors equal the command line's
    serve_check.py hostile FLOURISH SRC   bad JSON, huge bodies, unknown paths, path
                                          traversal, missing or wrong token, wrong Host, wrong
                                          methods and limits: each the right 4xx, and the
                                          server stays healthy and exits cleanly
    serve_check.py load FLOURISH SRC [N [C]]  N requests (default 2000) from C clients
                                          (default 16), expect and small runs mixed: no error,
                                          each answer the one its request asks for, memory
                                          flat; prints the figures
    serve_check.py smoke FLOURISH SRC     one of each: expect, a bad value, a small run to its
                                          end, a cancelled run, bad JSON, a huge body, a wrong
                                          token (short enough to run under valgrind: the
                                          command FLOURISH_SERVE_WRAPPER names, if set, starts
                                          the server, e.g. valgrind --error-exitcode=1 ...)
    serve_check.py browser FLOURISH SRC [SHOTS]  the headless-browser test
                                          (tests/browser/serve.mjs): the numbers the page shows
                                          after a slider move equal `flourish expect --set`;
                                          screenshots into SHOTS (default
                                          $FLOURISH_SERVE_SHOTS, none when unset)

Every mode starts its own server on a free port of 127.0.0.1 and stops it with SIGTERM; a
server that does not exit with status 0, or that prints a sanitizer report, fails the test.
"""
import difflib
import http.client
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import h5py
import numpy as np

ESC = "arms.community_city.interventions.community.escalation"
FRACTION = "arms.community_city_reinvest.reinvest.fraction"
failures = []
passed = 0


def check(ok, what):
    global passed
    if ok:
        passed += 1
    else:
        failures.append(what)
        print(f"FAILED: {what}", flush=True)


class Server:
    """flourish serve SCENARIO --port 0, its URL read from its first line."""

    def __init__(self, flourish, scenario, *args):
        self.err = tempfile.TemporaryFile()
        wrapper = os.environ.get("FLOURISH_SERVE_WRAPPER", "").split()
        self.proc = subprocess.Popen([*wrapper, flourish, "serve", scenario, "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=self.err, text=True)
        line = self.proc.stdout.readline().strip()
        m = re.fullmatch(r"http://(127\.0\.0\.1):(\d+)/\?token=([0-9a-f]{32})", line)
        if not m:
            self.proc.kill()
            raise SystemExit(f"serve printed {line!r}, not its URL")
        self.host, self.port, self.token = m.group(1), int(m.group(2)), m.group(3)
        self.base = f"http://{self.host}:{self.port}"

    def request(self, method, path, body=None, token=True, host=None, raw=None, headers=None):
        """(status, headers, body bytes) of one request; raw: the body as bytes."""
        c = http.client.HTTPConnection(self.host, self.port, timeout=300)
        c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        c.putheader("Host", host if host is not None else f"{self.host}:{self.port}")
        if token is True:
            c.putheader("X-Flourish-Token", self.token)
        elif token:
            c.putheader("X-Flourish-Token", token)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        for k, v in (headers or {}).items():
            c.putheader(k, v)
        if data is not None:
            c.putheader("Content-Type", "application/json")
            c.putheader("Content-Length", str(len(data)))
        c.endheaders()
        if data is not None:
            c.send(data)
        r = c.getresponse()
        out = r.status, dict(r.getheaders()), r.read()
        c.close()
        return out

    def json(self, method, path, body=None):
        status, _, data = self.request(method, path, body)
        return status, json.loads(data)

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        self.proc.terminate()
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = "killed after 60 s"
        self.err.seek(0)
        err = self.err.read().decode(errors="replace")
        check(rc == 0, f"serve exited with {rc} on SIGTERM: {err[-2000:]}")
        check("Sanitizer" not in err and "runtime error" not in err,
              f"serve printed a sanitizer report: {err[-4000:]}")
        return err


def sanitized(flourish):
    """Whether the binary is an AddressSanitizer build."""
    ldd = subprocess.run(["ldd", flourish], capture_output=True, text=True).stdout
    return "libasan" in ldd


def run_cli(flourish, *args):
    r = subprocess.run([flourish, *args], capture_output=True, text=True)
    return r.returncode, r.stderr


def sets_args(sets):
    out = []
    for k, v in sets.items():
        out += ["--set", f"{k}={v}"]
    return out


def level_flows(flows, state_level, L):
    """Moves between levels per step, summed in the order serve_api.c sums them."""
    T, S, _ = flows.shape
    inflow, outflow = [], []
    for t in range(T):
        i, o = [0.0] * L, [0.0] * L
        for a in range(S):
            for b in range(S):
                la, lb = int(state_level[a]), int(state_level[b])
                if la == lb:
                    continue
                v = float(flows[t, a, b])
                i[lb] += v
                o[la] += v
        inflow.append(i)
        outflow.append(o)
    return inflow, outflow


def seq_sum(values):
    s = 0.0
    for v in np.asarray(values, dtype=float).ravel():
        s += float(v)
    return s


def same(a, b):
    return np.array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float), equal_nan=True)


def check_expect(answer, h5path, what):
    """Every number of an /api/expect answer equals the file's."""
    with h5py.File(h5path, "r") as f:
        names = [n.decode() if isinstance(n, bytes) else n for n in f["arms"].keys()]
        arms = {a["name"]: a for a in answer["arms"]}
        check(sorted(arms) == sorted(names), f"{what}: arms {sorted(arms)} against {sorted(names)}")
        state_level = f["state_level"][()]
        L = len(f["levels"])
        for name in names:
            g, a = f["arms"][name], arms[name]
            for ds in ("stocks", "stocks_by_level", "entries", "exits", "costs",
                       "costs_discounted", "qol", "qol_discounted"):
                check(same(a[ds], g[ds][()]), f"{what}: {name}/{ds} differs from the file")
            inflow, outflow = level_flows(g["flows"][()], state_level, L)
            check(same(a["inflow"], inflow) and same(a["outflow"], outflow),
                  f"{what}: {name} flows between levels differ")
            check(a["qalys"] == seq_sum(g["qol"][()]), f"{what}: {name} QALYs differ")
        comps = {c["arm"]: c for c in answer["comparisons"]}
        for name in f["comparisons"].keys():
            g, c = f["comparisons"][name], comps[name]
            for ds in ("delta_costs", "cumulative_net_cost", "cumulative_net_cost_discounted",
                       "delta_qalys", "delta_cost_total", "delta_qaly_total", "breakeven_step"):
                check(same(c[ds], g[ds][()]), f"{what}: comparison {name}/{ds} differs")


def check_run(result, h5path, what):
    """The summaries of a finished job equal the run file's summary group."""
    with h5py.File(h5path, "r") as f:
        check(result["replications"] == f["arms/baseline/stocks"].shape[0],
              f"{what}: replication count")
        for a in result["arms"]:
            for ds in ("stocks_by_level", "costs", "qol"):
                g = f["arms"][a["name"]]["summary"][ds]
                for stat in ("mean", "sd", "mcse", "q025", "q05", "q25", "q50", "q75", "q95", "q975"):
                    check(same(a[ds][stat], g[stat][()]),
                          f"{what}: {a['name']}/{ds} {stat} differs from the file")
        for c in result["comparisons"]:
            g = f["comparisons"][c["arm"]]
            for ds in ("cumulative_net_cost", "delta_cost_total", "delta_qaly_total", "breakeven_step"):
                for stat in ("mean", "sd", "q05", "q50", "q95"):
                    check(same(c[ds][stat], g["summary"][ds][stat][()]),
                          f"{what}: comparison {c['arm']}/{ds} {stat} differs")
            check(same(c["p_saving_by_year"], g["p_saving_by_year"][()]),
                  f"{what}: comparison {c['arm']} p_saving_by_year differs")


def same_groups(path_a, group_a, path_b, group_b, what):
    """Every dataset under group_a of one file equals, bit for bit, the one of the same name
    under group_b of the other, and the two groups hold the same datasets."""
    def datasets(path, group):
        out = {}
        def one(name, obj):
            if isinstance(obj, h5py.Dataset):  # labels (strings) by value, numbers by their bits
                v = obj[()]
                out[name] = (obj.dtype.str, obj.shape,
                             np.asarray(v).tolist() if obj.dtype.kind in "OSU" else v.tobytes())
        with h5py.File(path, "r") as f:
            f[group].visititems(one)
        return out
    a, b = datasets(path_a, group_a), datasets(path_b, group_b)
    check(a and sorted(a) == sorted(b), f"{what}: datasets {sorted(a)[:5]} against {sorted(b)[:5]}")
    differ = [n for n in a if n in b and a[n] != b[n]]
    check(not differ, f"{what}: {differ[:5]} differ")


def wait_job(sv, job_id, timeout=600):
    t0 = time.time()
    while time.time() - t0 < timeout:
        status, j = sv.json("GET", f"/api/run/{job_id}")
        if status != 200 or j["state"] in ("done", "cancelled", "failed"):
            return status, j
        time.sleep(0.05)
    return 0, {"state": "timeout"}


def mode_api(flourish, src, tmp):
    scenario = os.path.join(src, "scenarios", "dundee.yaml")
    sv = Server(flourish, scenario, "--threads", "2")
    try:
        status, sc = sv.json("GET", "/api/scenario")
        check(status == 200, "GET /api/scenario")
        paths = {v["path"]: v for v in sc["values"]}
        check(paths.get(ESC, {}).get("type") == "number" and paths[ESC]["min"] == 0 and
              paths[ESC]["max"] == 100 and paths[ESC]["unit"] == "factor",
              "the escalation multiplier with its schema bounds and unit")
        check(paths.get("arms.community_city.interventions.community.ramp", {}).get("choices") ==
              "linear|logistic|exponential", "a choice with its choices")
        # Expectation with assignments, against flourish expect --set.
        lists = {"arms.community_city.interventions.community.levels": "[universal]",
                 "arms.community_targeted.interventions.community.localities": "[East_End, Lochee]",
                 "arms.community_city.interventions.make_it_happen.months": "[0, 3]"}
        for sets in ({}, {ESC: 0.8}, {ESC: 0.85, FRACTION: 0.3,
                                       "arms.community_city.interventions.community.decay_months": 6},
                     lists):
            status, ans = sv.json("POST", "/api/expect", {"set": sets})
            check(status == 200, f"expect {sets}: status {status}")
            out = os.path.join(tmp, "expect.h5")
            rc, err = run_cli(flourish, "expect", scenario, "-o", out, *sets_args(sets))
            check(rc == 0, f"flourish expect {sets}: {err}")
            check_expect(ans, out, f"expect {sets}")
            # The scenario rewritten with them gives the same file.
            status, _, text = sv.request("POST", "/api/yaml", {"set": sets})
            check(status == 200, f"yaml {sets}: status {status}")
            yml = os.path.join(tmp, "whatif.yaml")
            with open(yml, "wb") as f:
                f.write(text)
            out2 = os.path.join(tmp, "whatif.h5")
            rc, err = run_cli(flourish, "expect", yml, "-o", out2)
            check(rc == 0, f"flourish expect on the downloaded YAML: {err}")
            check_expect(ans, out2, f"downloaded YAML {sets}")
            with open(scenario, "rb") as f:
                original = f.read().decode().splitlines()
            added = [l for l in difflib.ndiff(original, text.decode().splitlines()) if l.startswith("+ ")]
            check(len(added) == len(sets), f"the YAML keeps the file but for {sets}: {added}")
        # The what-if as a new arm: the file unchanged, with community_city changed copied
        # as community_city_whatif; its numbers are those of community_city with --set, bit for
        # bit, the other arms' those of the file (expect, and run with the same seed: arms
        # share every child's random numbers).
        sets = {ESC: 0.8}
        status, _, text = sv.request("POST", "/api/yaml", {"set": sets, "arm": "community_city",
                                                           "as": "community_city_whatif"})
        check(status == 200, f"yaml as a new arm: status {status} {text[:300]!r}")
        yml = os.path.join(tmp, "newarm.yaml")
        with open(yml, "wb") as f:
            f.write(text)
        with open(scenario, "rb") as f:
            original = f.read().decode().splitlines()
        diff = [l for l in difflib.ndiff(original, text.decode().splitlines()) if l[:2] in ("+ ", "- ")]
        check(diff and all(l.startswith("+ ") for l in diff) and
              diff[0] == "+   community_city_whatif:" and
              "+         escalation: 0.8" in diff and
              "+     label: Community programme, city-wide (what-if)" in diff,
              f"the new arm's file adds lines only, the copy: {diff[:3]}")
        files = {}
        for name, args in (("new", [yml]), ("set", [scenario, *sets_args(sets)]),
                           ("plain", [scenario])):
            files[name] = os.path.join(tmp, f"newarm-{name}.h5")
            rc, err = run_cli(flourish, "expect", *args, "-o", files[name])
            check(rc == 0, f"flourish expect {name}: {err}")
        same_groups(files["new"], "arms/community_city_whatif", files["set"], "arms/community_city",
                    "expect: the new arm against --set")
        same_groups(files["new"], "comparisons/community_city_whatif", files["set"],
                    "comparisons/community_city", "expect: the new arm's comparison against --set")
        with h5py.File(files["plain"], "r") as f:
            arms, comps = list(f["arms"].keys()), list(f["comparisons"].keys())
        with h5py.File(files["new"], "r") as f:
            check(sorted(f["arms"].keys()) == sorted(arms + ["community_city_whatif"]),
                  f"the new file's arms: {list(f['arms'].keys())}")
        for a in arms:
            same_groups(files["new"], f"arms/{a}", files["plain"], f"arms/{a}", f"expect: arm {a}")
        for a in comps:
            same_groups(files["new"], f"comparisons/{a}", files["plain"], f"comparisons/{a}",
                        f"expect: comparison {a}")
        for name, args in (("new", [yml]), ("set", [scenario, *sets_args(sets)])):
            files[name] = os.path.join(tmp, f"newarm-run-{name}.h5")
            rc, err = run_cli(flourish, "run", *args, "-o", files[name], "-r", "8", "-s", "5", "-q")
            check(rc == 0, f"flourish run {name}: {err}")
        same_groups(files["new"], "arms/community_city_whatif", files["set"], "arms/community_city",
                    "run: the new arm's replications against --set")
        same_groups(files["new"], "comparisons/community_city_whatif", files["set"],
                    "comparisons/community_city", "run: the new arm's comparison against --set")
        # Refused with 400: an assignment outside the arm, a name taken or not a plain name, an
        # arm that does not exist, "arm" without "as".
        for body, words in (({"set": {ESC: 0.8, FRACTION: 0.3}, "arm": "community_city", "as": "x"},
                             "only assignments under arms.community_city."),
                            ({"set": {}, "arm": "community_city", "as": "community_targeted"},
                             "already"),
                            ({"set": {}, "arm": "community_city", "as": "what if"}, "letters"),
                            ({"set": {}, "arm": "community_city", "as": "a.b"}, "letters"),
                            ({"set": {}, "arm": "nowhere", "as": "x"}, "no arm 'nowhere'"),
                            ({"set": {}, "arm": "community_city"}, "go together"),
                            ({"set": {}, "arm": "community_city", "as": 3}, "go together")):
            status, ans = sv.json("POST", "/api/yaml", body)
            check(status == 400 and words in ans.get("error", ""), f"yaml {body}: {status} {ans}")
        # Errors: the command line's message, as JSON with status 400.
        bad = {ESC: -1}
        status, ans = sv.json("POST", "/api/expect", {"set": bad})
        rc, err = run_cli(flourish, "expect", scenario, "-o", os.path.join(tmp, "bad.h5"),
                          *sets_args(bad))
        check(status == 400 and rc == 2, f"a value out of bounds: {status}, {rc}")
        check(err.strip() == "flourish: " + ans.get("error", ""),
              f"the error is the command line's: {ans} against {err!r}")
        check(ans.get("key") == ESC and "between 0 and 100" in ans.get("message", ""),
              f"the error's key and message: {ans}")
        for sets in ({"arms.nowhere.x": 1}, {"states.universal": 1}, {ESC: "lots"},
                     {"arms.community_city.interventions.community.escalaton": 0.8}):
            status, ans = sv.json("POST", "/api/expect", {"set": sets})
            rc, err = run_cli(flourish, "expect", scenario, "-o", os.path.join(tmp, "bad.h5"),
                              *sets_args(sets))
            check(status == 400 and rc == 2 and err.strip() == "flourish: " + ans.get("error", ""),
                  f"{sets}: {status} {ans} against {rc} {err!r}")
        # Monte Carlo jobs against flourish run --set with the same seed.
        for sets, reps, seed in (({ESC: 0.8}, 24, 5), ({}, 7, 123456789012)):
            status, j = sv.json("POST", "/api/run", {"set": sets, "replications": reps, "seed": seed})
            check(status == 202 and j["state"] in ("queued", "running"), f"run: {status} {j}")
            status, j = wait_job(sv, j["id"])
            check(status == 200 and j["state"] == "done" and j["done"] == reps,
                  f"run {sets}: {j.get('state')}")
            out = os.path.join(tmp, "run.h5")
            rc, err = run_cli(flourish, "run", scenario, "-o", out, "-r", str(reps), "-s", str(seed),
                              "-q", *sets_args(sets))
            check(rc == 0, f"flourish run: {err}")
            if j["state"] == "done":
                check_run(j["result"], out, f"run {sets} r={reps} seed={seed}")
        # Cancelling a running job through the stop callback, and a queued one.
        status, j1 = sv.json("POST", "/api/run", {"replications": 5000, "seed": 1})
        status2, j2 = sv.json("POST", "/api/run", {"replications": 10, "seed": 2})
        check(status == 202 and status2 == 202, "two jobs queued")
        time.sleep(0.5)
        status, d2 = sv.json("DELETE", f"/api/run/{j2['id']}")
        check(status == 200 and d2["state"] == "cancelled", f"a queued job cancelled: {d2}")
        status, d1 = sv.json("DELETE", f"/api/run/{j1['id']}")
        check(status == 200, "DELETE of a running job")
        status, j = wait_job(sv, j1["id"], 120)
        check(j["state"] == "cancelled" and j["done"] < 5000, f"a running job cancelled: {j}")
        status, _ = sv.json("GET", "/api/scenario")
        check(status == 200, "healthy after the cancellations")
    finally:
        sv.stop()


def mode_hostile(flourish, src, tmp):
    scenario = os.path.join(src, "scenarios", "dundee.yaml")
    sv = Server(flourish, scenario, "--max-replications", "1000", "--max-jobs", "2")
    try:
        cases = [
            ("bad JSON", dict(method="POST", path="/api/expect", raw=b'{"set": {')),
            ("a JSON list", dict(method="POST", path="/api/expect", raw=b"[1, 2]")),
            ("an empty body", dict(method="POST", path="/api/expect", raw=b"")),
            ("duplicate keys", dict(method="POST", path="/api/expect", raw=b'{"set":{},"set":{}}')),
            ("set not an object", dict(method="POST", path="/api/expect", body={"set": [1]})),
            ("a value that is a list", dict(method="POST", path="/api/expect", body={"set": {ESC: [1]}})),
            ("a newline in a value", dict(method="POST", path="/api/expect", body={"set": {ESC: "0.8\nx: 1"}})),
            ("an = in a key path", dict(method="POST", path="/api/expect", body={"set": {"name=x": "y"}})),
            ("huge body", dict(method="POST", path="/api/expect", raw=b'{"set":{}}' + b" " * 200000)),
            ("body just over 64 KB", dict(method="POST", path="/api/expect",
                                          raw=b'{"set":{}}' + b" " * (65536 - 9))),
            ("unknown path", dict(method="GET", path="/api/nothing")),
            ("path traversal", dict(method="GET", path="/../../etc/passwd")),
            ("path traversal in the API", dict(method="GET", path="/api/run/../../../etc/passwd")),
            ("encoded traversal", dict(method="GET", path="/%2e%2e/%2e%2e/etc/passwd")),
            ("the scenario file by name", dict(method="GET", path="/dundee.yaml")),
            ("missing token", dict(method="GET", path="/api/scenario", token=False)),
            ("wrong token", dict(method="GET", path="/api/scenario", token="0" * 32)),
            ("token prefix", dict(method="GET", path="/api/scenario", token=sv.token[:16])),
            ("token too long", dict(method="GET", path="/api/scenario", token=sv.token + "0")),
            ("page without token", dict(method="GET", path="/", token=False)),
            ("wrong Host", dict(method="GET", path="/api/scenario", host="evil.example:80")),
            ("Host of another port", dict(method="GET", path="/api/scenario",
                                          host=f"127.0.0.1:{sv.port + 1}")),
            ("empty Host", dict(method="GET", path="/api/scenario", host="")),
            ("GET of a POST path", dict(method="GET", path="/api/expect")),
            ("PUT", dict(method="PUT", path="/api/run", body={})),
            ("too many replications", dict(method="POST", path="/api/run", body={"replications": 1001})),
            ("no replications", dict(method="POST", path="/api/run", body={"replications": 0})),
            ("a seed that is text", dict(method="POST", path="/api/run", body={"seed": "1"})),
            ("unknown job", dict(method="GET", path="/api/run/999")),
            ("job id with a sign", dict(method="GET", path="/api/run/+1")),
            ("job id that is not a number", dict(method="DELETE", path="/api/run/abc")),
        ]
        want = {"bad JSON": 400, "a JSON list": 400, "an empty body": 400, "duplicate keys": 400,
                "set not an object": 400, "a value that is a list": 400,
                "a newline in a value": 400, "an = in a key path": 400, "huge body": 413, "body just over 64 KB": 413,
                "unknown path": 404, "path traversal": 404, "path traversal in the API": 404,
                "encoded traversal": 404, "the scenario file by name": 404,
                "missing token": 401, "wrong token": 401, "token prefix": 401,
                "token too long": 401, "page without token": 401, "wrong Host": 403,
                "Host of another port": 403, "empty Host": 403, "GET of a POST path": 405,
                "PUT": 405, "too many replications": 400, "no replications": 400,
                "a seed that is text": 400, "unknown job": 404, "job id with a sign": 404,
                "job id that is not a number": 404}
        for name, kw in cases:
            status, headers, body = sv.request(**kw)
            check(status == want[name], f"{name}: HTTP {status}, expected {want[name]}")
            check(headers.get("Content-Type", "").startswith("application/json") and
                  "error" in json.loads(body or b"{}"), f"{name}: a JSON error")
            check(b"root:" not in body and b"flourish: 1" not in body, f"{name}: leaks a file")
            status, _, _ = sv.request("GET", "/api/scenario")
            check(status == 200, f"healthy after {name}")
        # The token in the query works, the page carries its own security headers.
        status, headers, page = sv.request("GET", f"/?token={sv.token}", token=False)
        check(status == 200 and page.startswith(b"<!doctype html>"), "the page with the token")
        check("default-src 'none'" in headers.get("Content-Security-Policy", ""), "the page's CSP")
        outside = page.replace(b"'http://www.w3.org/2000/svg'", b"")  # a namespace, not a fetch
        check(b"http://" not in outside and b"https://" not in outside and b"@import" not in page,
              "the page fetches nothing from elsewhere")
        check(headers.get("Referrer-Policy") == "no-referrer", "no referrer leaks the token")
        status, _, _ = sv.request("GET", "/api/scenario", host=f"localhost:{sv.port}")
        check(status == 200, "localhost as Host")
        # The job limit: two at once, the third refused.
        codes = [sv.request("POST", "/api/run", {"replications": 1000})[0] for _ in range(3)]
        check(codes == [202, 202, 429], f"the job limit: {codes}")
        for i in (1, 2):
            sv.request("DELETE", f"/api/run/{i}")
        # A slow client that never finishes its body does not block the others.
        import socket
        s = socket.create_connection((sv.host, sv.port))
        s.sendall(f"POST /api/expect HTTP/1.1\r\nHost: {sv.host}:{sv.port}\r\n"
                  f"X-Flourish-Token: {sv.token}\r\nContent-Length: 1000\r\n\r\n{{".encode())
        status, _, _ = sv.request("GET", "/api/scenario")
        check(status == 200, "healthy beside a client that stalls")
        s.close()
        # A request that is not HTTP.
        s = socket.create_connection((sv.host, sv.port))
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64) + b"\r\n\r\n")
        s.settimeout(10)
        try:
            reply = s.recv(200)
        except OSError:
            reply = b""
        s.close()
        check(reply == b"" or reply.startswith(b"HTTP/1.1 4"), f"garbage answered {reply[:40]!r}")
        status, _, _ = sv.request("GET", "/api/scenario")
        check(status == 200, "healthy after garbage")
    finally:
        sv.stop()
    # --host other than 127.0.0.1 is warned about; a bad one is a usage error.
    rc, err = run_cli(flourish, "serve", scenario, "--host", "not-an-address")
    check(rc == 2 and "--host" in err, f"a bad --host: {rc} {err!r}")
    rc, err = run_cli(flourish, "serve", os.path.join(src, "scenarios"))
    check(rc == 2, f"a directory as SCENARIO: {rc} {err!r}")


def mode_smoke(flourish, src, tmp):
    scenario = os.path.join(src, "scenarios", "dundee.yaml")
    sv = Server(flourish, scenario, "--threads", "2")
    try:
        status, ans = sv.json("POST", "/api/expect", {"set": {ESC: 0.8}})
        check(status == 200 and "arms" in ans, f"expect: HTTP {status}")
        status, ans = sv.json("POST", "/api/expect", {"set": {ESC: "x"}})
        check(status == 400 and "error" in ans, f"a bad value: HTTP {status}")
        status, job = sv.json("POST", "/api/run", {"replications": 2, "seed": 3})
        check(status == 202, f"a run: HTTP {status}")
        for _ in range(600):
            status, ans = sv.json("GET", f"/api/run/{job['id']}")
            if ans.get("state") not in ("queued", "running"):
                break
            time.sleep(0.5)
        check(ans.get("state") == "done", f"the run ended {ans.get('state')}")
        # A small job (queued, running or done when the cancel comes): under valgrind a large
        # one would starve the HTTP threads past their 60 s connection timeout, and SIGTERM
        # waits for the replications in progress.
        status, job = sv.json("POST", "/api/run", {"replications": 4, "seed": 3})
        status, _ = sv.json("DELETE", f"/api/run/{job['id']}")
        check(status == 200, f"a cancel: HTTP {status}")
        for name, kw, code in (
                ("bad JSON", dict(method="POST", path="/api/expect", raw=b'{"set": {'), 400),
                ("huge body", dict(method="POST", path="/api/expect",
                                   raw=b'{"set":{}}' + b" " * 200000), 413),
                ("wrong token", dict(method="GET", path="/api/scenario", token="0" * 32), 401)):
            status, _, _ = sv.request(**kw)
            check(status == code, f"{name}: HTTP {status}, expected {code}")
    finally:
        sv.stop()


def mode_load(flourish, src, tmp, n, clients):
    scenario = os.path.join(src, "scenarios", "dundee.yaml")
    sv = Server(flourish, scenario, "--threads", "2", "--max-jobs", str(clients))
    try:
        values = [0.8, 0.85, 0.9, 0.95, 1.0]
        seeds = [11, 12, 13]
        ref = {}
        for v in values:
            status, ans = sv.json("POST", "/api/expect", {"set": {ESC: v}})
            ans.pop("elapsed_ms")
            ref[("expect", v)] = json.dumps(ans, sort_keys=True)
        for s in seeds:
            status, j = sv.json("POST", "/api/run", {"replications": 4, "seed": s})
            status, j = wait_job(sv, j["id"])
            ref[("run", s)] = json.dumps(j["result"], sort_keys=True)
        rss0 = sv.rss_kb()
        lock = threading.Lock()
        stats = {"done": 0, "errors": [], "mixed": 0, "expect_ms": [], "run_ms": [], "rss": []}
        every = max(1, n // 10)
        plan = [("run", random.Random(i).choice(seeds)) if i % 10 == 9 else
                ("expect", random.Random(i).choice(values)) for i in range(n)]
        nexti = [0]

        def worker():
            while True:
                with lock:
                    if nexti[0] >= n:
                        return
                    kind, v = plan[nexti[0]]
                    nexti[0] += 1
                t0 = time.time()
                try:
                    if kind == "expect":
                        status, ans = sv.json("POST", "/api/expect", {"set": {ESC: v}})
                        ok = status == 200
                        if ok:
                            ans.pop("elapsed_ms")
                            got = json.dumps(ans, sort_keys=True)
                    else:
                        status, j = sv.json("POST", "/api/run", {"replications": 4, "seed": v})
                        ok = status == 202
                        if ok:
                            status, j = wait_job(sv, j["id"])
                            ok = status == 200 and j["state"] == "done"
                            got = json.dumps(j.get("result"), sort_keys=True)
                    ms = (time.time() - t0) * 1e3
                    with lock:
                        stats["done"] += 1
                        if not ok:
                            stats["errors"].append(f"{kind} {v}: {status}")
                        elif got != ref[(kind, v)]:
                            stats["mixed"] += 1
                        stats[f"{kind}_ms"].append(ms)
                        if stats["done"] % every == 0:
                            stats["rss"].append(sv.rss_kb())
                except Exception as e:  # noqa: BLE001 - every failure is counted
                    with lock:
                        stats["done"] += 1
                        stats["errors"].append(f"{kind} {v}: {e!r}")

        t0 = time.time()
        threads = [threading.Thread(target=worker) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.time() - t0
        rss1 = sv.rss_kb()
        e, r = sorted(stats["expect_ms"]), sorted(stats["run_ms"])
        q = lambda a, p: a[min(len(a) - 1, int(p * len(a)))] if a else float("nan")  # noqa: E731
        print(f"load: {n} requests from {clients} clients in {wall:.1f} s "
              f"({n / wall:.1f} a second): {len(e)} expect (median {q(e, 0.5):.0f} ms, "
              f"95% {q(e, 0.95):.0f} ms), {len(r)} runs of 4 replications (median "
              f"{q(r, 0.5):.0f} ms, 95% {q(r, 0.95):.0f} ms); {len(stats['errors'])} errors, "
              f"{stats['mixed']} mixed-up answers", flush=True)
        print(f"load: RSS {rss0 / 1024:.1f} MB after the warm-up, every {every} requests "
              f"{', '.join(f'{x / 1024:.1f}' for x in stats['rss'])} MB, "
              f"{rss1 / 1024:.1f} MB at the end", flush=True)
        check(stats["done"] == n, f"{stats['done']} of {n} requests answered")
        check(not stats["errors"], f"errors: {stats['errors'][:5]}")
        check(stats["mixed"] == 0, f"{stats['mixed']} answers were not the ones asked for")
        # Flat: the second half adds no more than a few MB (allocator slack) to the first. Under
        # AddressSanitizer freed memory waits in its quarantine (RSS grows by design), and the
        # sanitizer checks for leaks at exit instead.
        half = stats["rss"][len(stats["rss"]) // 2:] or [rss1]
        if sanitized(flourish):
            print("load: a sanitizer build: memory checked by LeakSanitizer at exit, not RSS")
        else:
            check(max(half) - min(half) < 32 * 1024 and rss1 < rss0 + 96 * 1024,
                  f"memory grows: {rss0} kB, then {stats['rss']}, {rss1} kB")
        status, _ = sv.json("GET", "/api/scenario")
        check(status == 200, "healthy after the load")
    finally:
        sv.stop()


def mode_browser(flourish, src, tmp, shots):
    scenario = os.path.join(src, "scenarios", "dundee.yaml")
    if subprocess.run(["sh", "-c", "command -v node"], capture_output=True).returncode != 0:
        print("no node: browser check skipped (sudo bash scripts/setup-browser.sh)")
        sys.exit(1 if os.environ.get("FLOURISH_REQUIRE_BROWSER") == "1" else 77)
    if shots != "-":
        os.makedirs(shots, exist_ok=True)
    sv = Server(flourish, scenario, "--threads", "2")
    out = os.path.join(tmp, "browser.json")
    try:
        r = subprocess.run(["node", os.path.join(src, "tests", "browser", "serve.mjs"), shots,
                            f"{sv.base}/?token={sv.token}", out])
    finally:
        sv.stop()
    if r.returncode == 77:
        sys.exit(77)
    check(r.returncode == 0, f"tests/browser/serve.mjs exited with {r.returncode}")
    if r.returncode != 0 or not os.path.exists(out):
        return
    with open(out) as f:
        shown = json.load(f)
    # What the page showed after the slider move, against the command line at that value.
    h5 = os.path.join(tmp, "slider.h5")
    rc, err = run_cli(flourish, "expect", scenario, "-o", h5, "--set", f"{shown['path']}={shown['value']}")
    check(rc == 0, f"flourish expect --set {shown['path']}={shown['value']}: {err}")
    before = len(failures)
    with h5py.File(h5, "r") as f:
        L = len(f["levels"])
        for arm in f["arms"].keys():
            g = f["arms"][arm]
            want = {"end_top_level": g["stocks_by_level"][-1, L - 1],
                    "total_cost": seq_sum([seq_sum(row) for row in g["costs"][()]]),
                    "qalys": seq_sum(g["qol"][()])}
            if arm in f["comparisons"]:
                c = f["comparisons"][arm]
                want["net_cost"] = c["cumulative_net_cost"][-1]
                want["breakeven_step"] = c["breakeven_step"][()]
            for k, v in want.items():
                got = shown["after"].get(f"{arm}/{k}")
                check(got is not None and float(got) == float(v),
                      f"the page shows {arm}/{k} = {got}, flourish expect --set gives {v!r}")
    if len(failures) == before:
        print(f"browser: slider {shown['path']} = {shown['value']}: every number shown equals "
              f"flourish expect --set; expect {shown['expect_ms']:.0f} ms in the browser, "
              f"{shown['server_ms']:.0f} ms on the server")


def main():
    if len(sys.argv) < 4:
        print(__doc__)
        sys.exit(2)
    mode, flourish, src = sys.argv[1:4]
    with tempfile.TemporaryDirectory() as tmp:
        if mode == "api":
            mode_api(flourish, src, tmp)
        elif mode == "hostile":
            mode_hostile(flourish, src, tmp)
        elif mode == "smoke":
            mode_smoke(flourish, src, tmp)
        elif mode == "load":
            n = int(sys.argv[4]) if len(sys.argv) > 4 else 2000
            clients = int(sys.argv[5]) if len(sys.argv) > 5 else 16
            # Shortened where the statistical runs are (the sanitizer stage of scripts/test.sh),
            # to ten requests a client in a sanitizer build (a Debug expectation there takes
            # about a second).
            n = max(clients * 10, int(n * float(os.environ.get("FLOURISH_STAT_SCALE", "1"))))
            if sanitized(flourish):
                n = clients * 10
            mode_load(flourish, src, tmp, n, clients)
        elif mode == "browser":
            shots = sys.argv[4] if len(sys.argv) > 4 else os.environ.get("FLOURISH_SERVE_SHOTS") or "-"
            mode_browser(flourish, src, tmp, shots)
        else:
            print(__doc__)
            sys.exit(2)
    print(f"serve {mode}: {passed} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
