// How the benchmarks summarise runs: the median, with a spread of each side
// (never the best run: the best run hides what a user usually gets), and
// ratios of medians. Pure functions, no I/O.

/** Quantile q (0..1) of xs, linearly interpolated between the two nearest ranks. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const at = q * (s.length - 1);
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return s[lo] + (s[hi] - s[lo]) * (at - lo);
}

/** The q-th quantile as a rank (no interpolation): for latency tails over many samples. */
export function rank(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

export interface Summary {
  median: number;
  lo: number;
  hi: number;
  n: number;
  /** What lo-hi is. */
  spread: "p25–p75" | "min–max" | "per-round min–max";
}

/** Median and spread of a set of runs: p25–p75 from 10 runs up, min–max below that (quartiles of 3 runs mean little). */
export function summarize(xs: readonly number[]): Summary {
  const few = xs.length < 10;
  return {
    median: quantile(xs, 0.5),
    lo: few ? Math.min(...xs) : quantile(xs, 0.25),
    hi: few ? Math.max(...xs) : quantile(xs, 0.75),
    n: xs.length,
    spread: few ? "min–max" : "p25–p75",
  };
}

/** A latency percentile over all samples, with the spread of the same percentile taken round by round. */
export function percentile(rounds: readonly number[][], q: number): Summary {
  const all = rounds.flat();
  const per = rounds.filter((r) => r.length > 0).map((r) => rank(r, q));
  return { median: rank(all, q), lo: Math.min(...per), hi: Math.max(...per), n: all.length, spread: "per-round min–max" };
}

/** One fixed value (a value size, say): no spread. */
export function exact(x: number): Summary {
  return { median: x, lo: x, hi: x, n: 1, spread: "min–max" };
}

/** A figure with as many digits as it needs: 1234, 123, 12.3, 1.23, 0.123. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 100) return Math.round(x).toString();
  if (a >= 10) return x.toFixed(1);
  if (a >= 0.1 || a === 0) return x.toFixed(2);
  return x.toPrecision(2);
}

/** Throughput in GB/s (10^9 bytes) of `bytes` moved in `ms`. */
export const gbps = (bytes: number, ms: number) => bytes / 1e9 / (ms / 1000);
