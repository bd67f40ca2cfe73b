// The Prometheus registry and clip's metric set: the text exposition as
// Prometheus reads it (checked by Debian's promtool, and parsed back here),
// escaping, histogram buckets, and an increment that allocates nothing.

import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { ClipMetrics, TRANSPORTS } from "../../src/http/metric-set.ts";
import { DURATION_BUCKETS, Registry } from "../../src/http/metrics.ts";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A strict reader of the text format: every line is a comment, blank, or a well-formed sample. */
function parseExposition(text: string): { samples: Sample[]; help: Map<string, string>; types: Map<string, string> } {
  const samples: Sample[] = [];
  const help = new Map<string, string>();
  const types = new Map<string, string>();
  expect(text.endsWith("\n")).toBe(true);
  for (const line of text.slice(0, -1).split("\n")) {
    let m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (m) {
      help.set(m[1], m[2].replace(/\\(\\|n)/g, (_, c) => (c === "n" ? "\n" : "\\")));
      continue;
    }
    m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (m) {
      types.set(m[1], m[2]);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
      let pos = 0;
      while (pos < m[2].length) {
        re.lastIndex = pos;
        const l = re.exec(m[2]);
        if (!l) throw new Error(`bad labels in ${JSON.stringify(line)}`);
        labels[l[1]] = l[2].replace(/\\(["\\n])/g, (_, c) => (c === "n" ? "\n" : c));
        pos = re.lastIndex;
      }
    }
    const v = m[3] === "+Inf" ? Infinity : m[3] === "-Inf" ? -Infinity : Number(m[3]);
    if (Number.isNaN(v) && m[3] !== "NaN") throw new Error(`bad value in ${JSON.stringify(line)}`);
    samples.push({ name: m[1], labels, value: v });
  }
  return { samples, help, types };
}

const find = (s: Sample[], name: string, labels: Record<string, string> = {}) =>
  s.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v) && Object.keys(x.labels).length === Object.keys(labels).length);

async function promtool(text: string): Promise<{ code: number; out: string }> {
  const p = Bun.spawn(["promtool", "check", "metrics"], { stdin: new TextEncoder().encode(text), stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out: out + err };
}

const HAVE_PROMTOOL = existsSync("/usr/bin/promtool");
if (!HAVE_PROMTOOL) {
  if (process.env.CI) throw new Error("promtool is missing: .ci/run installs Debian's prometheus package");
  console.warn("http-metrics: /usr/bin/promtool missing (apt-get install prometheus); the promtool checks are skipped here");
}

function busyMetrics(): ClipMetrics {
  const m = new ClipMetrics({ name: 'host "a"\\b', version: "1.2.3" });
  m.bind({ clients: (t) => ({ unix: 3, tcp: 1, http: 2 })[t], watchers: (t) => (t === "http" ? 5 : 0), children: () => 2, lag: () => 7, revision: () => 1234 });
  m.writesApplied.inc(41);
  m.writesApplied.inc();
  const http = m.transport("http");
  http.received.inc(1 << 20);
  http.sent.inc(300);
  for (const s of [0.00005, 0.0003, 0.0003, 0.002, 0.7, 42]) http.duration.observe(s);
  http.cutOff.inc();
  http.errors("AUTH").inc(2);
  m.transport("unix").duration.observe(0.0001); // exactly on a bound: counted in that bucket (le is <=)
  return m;
}

describe("http metrics", () => {
  test.skipIf(!HAVE_PROMTOOL)("metrics - promtool check metrics passes clip's whole metric set, busy and fresh", async () => {
    for (const m of [busyMetrics(), new ClipMetrics({ name: "fresh", version: "0" })]) {
      const text = m.render();
      const r = await promtool(text);
      expect(r.out).toBe("");
      expect(r.code).toBe(0);
    }
  });

  test.skipIf(!HAVE_PROMTOOL)("metrics - promtool rejects a broken exposition (the check can fail)", async () => {
    const text = busyMetrics().render().replace('clip_watchers{transport="http"} 5', 'clip_watchers{transport="http} 5');
    expect((await promtool(text)).code).not.toBe(0);
    const lint = await promtool("# HELP bytes_in Bytes.\n# TYPE bytes_in counter\nbytes_in 3\n");
    expect(lint.code).not.toBe(0); // a counter without _total: promtool's linter complains
  });

  test("metrics - values parse back: counters, gauges from the bound source, labels per transport", () => {
    const { samples, types, help } = parseExposition(busyMetrics().render());
    expect(find(samples, "clip_writes_applied_total")?.value).toBe(42);
    expect(find(samples, "clip_received_bytes_total", { transport: "http" })?.value).toBe(1 << 20);
    expect(find(samples, "clip_received_bytes_total", { transport: "unix" })?.value).toBe(0);
    expect(find(samples, "clip_sent_bytes_total", { transport: "http" })?.value).toBe(300);
    expect(find(samples, "clip_clients", { transport: "unix" })?.value).toBe(3);
    expect(find(samples, "clip_clients", { transport: "http" })?.value).toBe(2);
    expect(find(samples, "clip_watchers", { transport: "http" })?.value).toBe(5);
    expect(find(samples, "clip_children")?.value).toBe(2);
    expect(find(samples, "clip_lag_revisions")?.value).toBe(7);
    expect(find(samples, "clip_revision")?.value).toBe(1234);
    expect(find(samples, "clip_slow_readers_cut_total", { transport: "http" })?.value).toBe(1);
    expect(find(samples, "clip_errors_total", { transport: "http", code: "AUTH" })?.value).toBe(2);
    // Label values with quotes and backslashes survive the round trip.
    expect(find(samples, "clip_info", { name: 'host "a"\\b', version: "1.2.3" })?.value).toBe(1);
    for (const t of TRANSPORTS) expect(find(samples, "clip_clients", { transport: t })).toBeDefined();
    expect(types.get("clip_request_duration_seconds")).toBe("histogram");
    expect(types.get("clip_writes_applied_total")).toBe("counter");
    expect(types.get("clip_clients")).toBe("gauge");
    for (const name of types.keys()) {
      expect(name.startsWith("clip_")).toBe(true);
      expect(help.get(name)?.length).toBeGreaterThan(10);
    }
  });

  test("metrics - histogram: cumulative buckets ending in +Inf, _sum and _count agree", () => {
    const { samples } = parseExposition(busyMetrics().render());
    const buckets = samples.filter((s) => s.name === "clip_request_duration_seconds_bucket" && s.labels.transport === "http");
    expect(buckets.map((b) => b.labels.le)).toEqual([...DURATION_BUCKETS.map(String), "+Inf"]);
    const at = (le: string) => buckets.find((b) => b.labels.le === le)!.value;
    // observed: 0.00005, 0.0003, 0.0003, 0.002, 0.7, 42
    expect(at("0.0001")).toBe(1);
    expect(at("0.00025")).toBe(1);
    expect(at("0.0005")).toBe(3);
    expect(at("0.0025")).toBe(4);
    expect(at("0.5")).toBe(4);
    expect(at("1")).toBe(5);
    expect(at("10")).toBe(5);
    expect(at("+Inf")).toBe(6);
    for (let i = 1; i < buckets.length; i++) expect(buckets[i].value).toBeGreaterThanOrEqual(buckets[i - 1].value);
    expect(find(samples, "clip_request_duration_seconds_count", { transport: "http" })?.value).toBe(6);
    expect(find(samples, "clip_request_duration_seconds_sum", { transport: "http" })?.value).toBeCloseTo(42.70265, 9);
    const unix = samples.filter((s) => s.name === "clip_request_duration_seconds_bucket" && s.labels.transport === "unix");
    expect(unix.find((b) => b.labels.le === "0.0001")!.value).toBe(1);
  });

  test("metrics - escaping in HELP and label values; special values", () => {
    const r = new Registry();
    r.gauge("x_value", "line one\nback\\slash", ["path"]).labels('a"b\\c\nd').set(Number.POSITIVE_INFINITY);
    r.gauge("y_value", "y").set(Number.NaN);
    const text = r.render();
    expect(text).toContain("# HELP x_value line one\\nback\\\\slash\n");
    expect(text).toContain('x_value{path="a\\"b\\\\c\\nd"} +Inf\n');
    expect(text).toContain("y_value NaN\n");
    const { samples, help } = parseExposition(text);
    expect(help.get("x_value")).toBe("line one\nback\\slash");
    expect(samples[0].labels.path).toBe('a"b\\c\nd');
  });

  test("metrics - misuse is refused: bad names, le on a histogram, unsorted buckets, a negative counter step, a name twice", () => {
    const r = new Registry();
    expect(() => r.counter("bad-name", "x")).toThrow();
    expect(() => r.counter("ok_total", "x", ["__reserved"])).toThrow();
    expect(() => r.histogram("h_seconds", "x", [1, 2], ["le"])).toThrow();
    expect(() => r.histogram("h_seconds", "x", [2, 1])).toThrow();
    const c = r.counter("c_total", "x");
    expect(() => c.inc(-1)).toThrow();
    expect(() => r.counter("c_total", "again")).toThrow();
    expect(() => r.counter("l_total", "x", ["a"]).labels()).toThrow();
    expect(() => r.counter("m_total", "x", ["a"]).inc()).toThrow();
  });

  test("metrics - an increment and an observation allocate nothing", () => {
    const { fullGC, heapStats } = require("bun:jsc");
    const m = new ClipMetrics({ name: "n", version: "v" });
    const t = m.transport("tcp");
    // objectTypeCounts counts every cell allocated, collected or not (heapSize only sees survivors).
    const cells = () => Object.values(heapStats().objectTypeCounts as Record<string, number>).reduce((a, b) => a + b, 0);
    const run = (n: number) => {
      for (let i = 0; i < n; i++) {
        t.received.inc(64);
        t.sent.inc(64);
        t.duration.observe(i * 1e-6);
        m.writesApplied.inc();
      }
    };
    run(50_000); // let the JIT settle
    fullGC();
    const before = cells();
    run(20_000);
    const made = cells() - before;
    // 80,000 calls; heapStats() itself makes a few hundred cells. One object per call would be 20,000+.
    expect(made).toBeLessThan(2_000);
    expect(t.duration.count).toBe(70_000);
  });
});
