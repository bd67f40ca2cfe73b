// Interleaving: every side (each clip build and each reference) runs once
// per round, and the order within a round rotates (A B C, B C A, C A B, ...),
// so all sides see the same load on a shared machine and none is always the
// one that runs first or second (which was seen to matter, bench/tree.ts).

import { fmt } from "./stats.ts";

export interface Side {
  name: string;
  /** One timed run; returns its figure (ms, GB/s, ...). */
  once(): Promise<number>;
}

/**
 * Runs each side `rounds` times, interleaved, after `warmup` untimed rounds.
 * Returns the figures per side, in the sides' order.
 */
export async function interleave(sides: Side[], rounds: number, opts: { warmup?: number; log?: (s: string) => void } = {}): Promise<number[][]> {
  const out = sides.map(() => [] as number[]);
  const warm = opts.warmup ?? 1;
  for (let r = -warm; r < rounds; r++) {
    const k = sides.length;
    const shift = ((r % k) + k) % k;
    for (let i = 0; i < k; i++) {
      const j = (i + shift) % k;
      const x = await sides[j].once();
      if (r >= 0) out[j].push(x);
    }
    if (r >= 0) opts.log?.(`round ${r + 1}/${rounds}: ${sides.map((s, j) => `${s.name} ${fmt(out[j][r])}`).join(", ")}`);
  }
  return out;
}
