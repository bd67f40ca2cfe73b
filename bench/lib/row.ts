// What a benchmark row module is and what it is handed. A row module
// (bench/rows/NAME.ts) sets up its own servers in its own folder, runs clip
// and its reference interleaved (bench/lib/rounds.ts), reports measures and
// notes through its context, and stops what it started. bench/run.ts picks
// the modules, gives each a context, and renders what they report.

import type { Summary } from "./stats.ts";

export interface Target {
  /** ≥ for "clip / reference must be at least x", ≤ for "at most x". */
  op: "≥" | "≤";
  x: number;
}

export interface Measure {
  /** What is measured and in what unit, e.g. "1 GiB `clip copy 3 FILE` (GB/s)". */
  what: string;
  clip: Summary;
  ref?: Summary;
  /** The reference, e.g. "socat FILE → socat → FILE". */
  refName: string;
  /** clip / reference; by default the ratio of the two medians. */
  ratio?: number;
  target?: Target;
}

export interface Ctx {
  /** The repository's root. */
  root: string;
  /** The clip builds to measure (CLIP_BIN=a,b: two, rotated every round). */
  bins: string[];
  quick: boolean;
  /** This module's own temp folder (on tmpfs). */
  dir: string;
  /** A file of `bytes` incompressible bytes on tmpfs, made once per run and shared by the rows. */
  bigFile(bytes: number): Promise<string>;
  /** Whether `clip serve --help` lists this flag (the server is being redesigned: flags come and go). */
  serveHas(flag: string): boolean;
  measure(m: Measure): void;
  note(text: string): void;
  log(text: string): void;
}

export interface RowModule {
  /** The name `--only` takes. */
  name: string;
  /** One or two sentences for BENCHMARKS.md: what is run against what, and how. */
  how: string;
  /** Commands the module needs (installed with apt-get when missing). */
  tools: string[];
  run(ctx: Ctx): Promise<void>;
}

/** "clip", or "clip#1" when several builds are measured. */
export function clipLabel(ctx: Ctx, b: number): string {
  return ctx.bins.length > 1 ? `clip#${b}` : "clip";
}
