// Versions order writes for merging after a split (SPEC "The tree"): a hybrid
// logical clock reading plus the id of the server that made the write. The
// clock never runs backwards and moves past every version it observes, so a
// write made after seeing another always carries a larger version.

export interface Version {
  /** ms since the epoch × 1000 + a logical counter (stays below 2^53 until year 2255) */
  t: number;
  /** id of the server that made the write: breaks ties the same way everywhere */
  n: string;
}

export const ZERO: Version = { t: 0, n: "" };

export function compareVersions(a: Version, b: Version): number {
  if (a.t !== b.t) return a.t < b.t ? -1 : 1;
  return a.n < b.n ? -1 : a.n > b.n ? 1 : 0;
}

export class HybridClock {
  private last = 0;
  constructor(
    readonly node: string,
    private readonly wall: () => number = Date.now,
  ) {}

  now(): Version {
    const physical = this.wall() * 1000;
    this.last = physical > this.last ? physical : this.last + 1;
    return { t: this.last, n: this.node };
  }

  observe(v: Version): void {
    if (v.t > this.last) this.last = v.t;
  }
}

/** ms since the epoch that a version was made at. */
export function versionTime(v: Version): number {
  return Math.floor(v.t / 1000);
}
