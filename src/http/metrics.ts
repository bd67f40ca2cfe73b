// A small Prometheus registry: counters, gauges and histograms, with or
// without labels, rendered in the text exposition format 0.0.4. It knows
// nothing of clip (metric-set.ts names clip's metrics) and does no I/O.
//
// The hot path is an increment, so a labelled child is looked up once, kept
// by the caller, and then `inc()`/`observe()` only add to numbers it owns:
// no strings, arrays or objects are made per call. Rendering (a scrape, a few
// times a minute) is where the text is built.

export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Buckets for request durations in seconds: clip answers in tens of microseconds to seconds. */
export const DURATION_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

type Kind = "counter" | "gauge" | "histogram";

interface Rendered {
  readonly name: string;
  render(out: string[]): void;
}

/** HELP text: backslash and newline are the only characters escaped there. */
function escapeHelp(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** Label values: backslash, double quote and newline are escaped. */
export function escapeLabelValue(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** A sample value as Prometheus (Go's ParseFloat) reads it. */
export function formatValue(v: number): string {
  if (v === Number.POSITIVE_INFINITY) return "+Inf";
  if (v === Number.NEGATIVE_INFINITY) return "-Inf";
  if (Number.isNaN(v)) return "NaN";
  return String(v);
}

function labelText(names: readonly string[], values: readonly string[], extra?: string): string {
  const parts: string[] = [];
  for (let i = 0; i < names.length; i++) parts.push(`${names[i]}="${escapeLabelValue(values[i])}"`);
  if (extra) parts.push(extra);
  return parts.length ? `{${parts.join(",")}}` : "";
}

/** What every metric family shares: its name, help, label names and children by label values. */
abstract class Family<C> implements Rendered {
  private readonly children = new Map<string, { values: readonly string[]; child: C }>();
  private unlabelled: C | undefined;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly kind: Kind,
    readonly labelNames: readonly string[],
  ) {
    if (!METRIC_NAME.test(name)) throw new Error(`bad metric name ${JSON.stringify(name)}`);
    for (const l of labelNames) {
      if (!LABEL_NAME.test(l) || l.startsWith("__")) throw new Error(`bad label name ${JSON.stringify(l)} on ${name}`);
    }
    if (new Set(labelNames).size !== labelNames.length) throw new Error(`repeated label name on ${name}`);
  }

  protected abstract make(): C;
  protected abstract renderChild(out: string[], child: C, values: readonly string[]): void;

  /**
   * The child for these label values, in the order of the label names. Made
   * on first use and kept: call this once per series and keep the result.
   */
  labels(...values: string[]): C {
    if (values.length !== this.labelNames.length) {
      throw new Error(`${this.name} takes ${this.labelNames.length} label value(s), got ${values.length}`);
    }
    const key = values.join("\u0000");
    let entry = this.children.get(key);
    if (!entry) {
      entry = { values: [...values], child: this.make() };
      this.children.set(key, entry);
    }
    return entry.child;
  }

  /** A family without labels is its own single child. */
  protected get self(): C {
    if (this.labelNames.length) throw new Error(`${this.name} has labels: use .labels(...) first`);
    return (this.unlabelled ??= this.labels());
  }

  render(out: string[]): void {
    // A series without labels is shown (as 0) before its first use.
    if (this.labelNames.length === 0) void this.self;
    out.push(`# HELP ${this.name} ${escapeHelp(this.help)}`);
    out.push(`# TYPE ${this.name} ${this.kind}`);
    for (const { values, child } of this.children.values()) this.renderChild(out, child, values);
  }

  protected line(out: string[], suffix: string, values: readonly string[], v: number, extra?: string): void {
    out.push(`${this.name}${suffix}${labelText(this.labelNames, values, extra)} ${formatValue(v)}`);
  }
}

/** A value that only goes up (resets only when the process restarts). */
export class CounterChild {
  value = 0;
  inc(n = 1): void {
    // A negative or NaN step is a bug in the caller, and would corrupt rate().
    if (!(n >= 0)) throw new Error(`counter step must be >= 0, got ${n}`);
    this.value += n;
  }
}

export class Counter extends Family<CounterChild> {
  protected make(): CounterChild {
    return new CounterChild();
  }
  protected renderChild(out: string[], c: CounterChild, values: readonly string[]): void {
    this.line(out, "", values, c.value);
  }
  inc(n = 1): void {
    this.self.inc(n);
  }
  get value(): number {
    return this.self.value;
  }
}

/** A value that goes up and down, or is set from live state when scraped. */
export class GaugeChild {
  value = 0;
  set(v: number): void {
    this.value = v;
  }
  inc(n = 1): void {
    this.value += n;
  }
  dec(n = 1): void {
    this.value -= n;
  }
}

export class Gauge extends Family<GaugeChild> {
  protected make(): GaugeChild {
    return new GaugeChild();
  }
  protected renderChild(out: string[], g: GaugeChild, values: readonly string[]): void {
    this.line(out, "", values, g.value);
  }
  set(v: number): void {
    this.self.set(v);
  }
  inc(n = 1): void {
    this.self.inc(n);
  }
  dec(n = 1): void {
    this.self.dec(n);
  }
  get value(): number {
    return this.self.value;
  }
}

/** Observations counted into fixed buckets (each counted once, in the first bucket it fits). */
export class HistogramChild {
  /** Per-bucket counts, not cumulative; the last slot is +Inf. Made once, never resized. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }
  observe(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]) i++;
    this.counts[i]++;
    this.sum += v;
    this.count++;
  }
}

export class Histogram extends Family<HistogramChild> {
  readonly bounds: readonly number[];

  constructor(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]) {
    if (labelNames.includes("le")) throw new Error(`${name}: "le" is reserved for buckets`);
    if (buckets.length === 0) throw new Error(`${name}: a histogram needs at least one bucket`);
    for (let i = 0; i < buckets.length; i++) {
      if (!Number.isFinite(buckets[i]) || (i > 0 && buckets[i] <= buckets[i - 1])) {
        throw new Error(`${name}: buckets must be finite and strictly increasing`);
      }
    }
    super(name, help, "histogram", labelNames);
    this.bounds = Object.freeze([...buckets]);
  }

  protected make(): HistogramChild {
    return new HistogramChild(this.bounds);
  }

  protected renderChild(out: string[], h: HistogramChild, values: readonly string[]): void {
    let cumulative = 0;
    for (let i = 0; i < h.bounds.length; i++) {
      cumulative += h.counts[i];
      this.line(out, "_bucket", values, cumulative, `le="${formatValue(h.bounds[i])}"`);
    }
    this.line(out, "_bucket", values, h.count, `le="+Inf"`);
    this.line(out, "_sum", values, h.sum);
    this.line(out, "_count", values, h.count);
  }

  observe(v: number): void {
    this.self.observe(v);
  }
}

export class Registry {
  private readonly families: Rendered[] = [];
  private readonly names = new Set<string>();
  private readonly collectors: (() => void)[] = [];

  private add<F extends Rendered>(f: F): F {
    if (this.names.has(f.name)) throw new Error(`metric ${f.name} is registered twice`);
    this.names.add(f.name);
    this.families.push(f);
    return f;
  }

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.add(new Counter(name, help, "counter", labelNames));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.add(new Gauge(name, help, "gauge", labelNames));
  }

  histogram(name: string, help: string, buckets: readonly number[], labelNames: readonly string[] = []): Histogram {
    return this.add(new Histogram(name, help, labelNames, buckets));
  }

  /** Runs `fn` before each render: gauges that mirror live state are set there, not on every change. */
  onCollect(fn: () => void): void {
    this.collectors.push(fn);
  }

  /** The whole registry in the text exposition format 0.0.4, ending with a newline. */
  render(): string {
    for (const fn of this.collectors) fn();
    const out: string[] = [];
    for (const f of this.families) f.render(out);
    return out.length ? `${out.join("\n")}\n` : "";
  }
}
