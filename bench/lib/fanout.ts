// One write waking many readers, timed: the fan-out rows (kv, http) count
// deliveries through `arrived` and time a round from the write to the last.

export interface FanOut {
  /** Each reader calls this once per delivery. */
  arrived(): void;
  /** Makes the write and resolves with the ms until `readers` deliveries have come; fails after 10 s. */
  round(write: () => Promise<unknown>): Promise<number>;
}

export function fanOut(readers: number, what = "readers"): FanOut {
  let pending = 0;
  let done: (() => void) | null = null;
  return {
    arrived() {
      if (--pending === 0) done?.();
    },
    async round(write) {
      pending = readers;
      const all = new Promise<void>((r) => (done = r));
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${pending} of ${readers} ${what} not woken after 10 s`)), 10_000)));
      const t0 = performance.now();
      await write();
      await Promise.race([all, late]);
      clearTimeout(timer);
      return performance.now() - t0;
    },
  };
}
