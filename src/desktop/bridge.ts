// The bridge between one region R and this machine's desktop clipboard, both
// ways, until its signal aborts. It keeps no value between events, only
// fingerprints (sha-256) of them:
// - `region`: R's current value as last seen in R's change stream;
// - `placed`: what the bridge itself put on the desktop, as read back from
//   the desktop (desktops may re-encode), and the revision it came from;
// - `seen`: the desktop's content when last read.
//
// The no-echo rule, in one place (onDesktop): a desktop copy is written to
// R only if it is not what the bridge put there, and not equal (bytes and
// type) to R's current value. The other way (onChange, place): a write to R
// is put on the desktop unless the bridge made it (`wrote`: it came from
// this desktop) or the desktop holds those bytes already. So a value goes
// round once and settles, even between two machines bridged to one region.
//
// Every step runs one at a time (`serial`), so the rules see a consistent
// state; comparisons read only a digest of the desktop's content, so a step
// holds one value (R's, or the desktop's). The one exception: a change the
// port has handed over waits, with its bytes, while a desktop copy is written.

import { isClipError } from "../protocol/errors.ts";
import { type DesktopBackend, sleep, Superseded, type Tick } from "./backend.ts";
import { digest } from "./exec.ts";
import type { RegionChange, RegionPort, RegionValue } from "./port.ts";
import { chooseType, storedType } from "./types.ts";

export interface BridgeOptions {
  region: number;
  port: RegionPort;
  backend: DesktopBackend;
  /** Put R's writes on the desktop (default true). */
  toDesktop?: boolean;
  /** Write desktop copies to R (default true). */
  fromDesktop?: boolean;
  /** Largest value moved either way (default 64 MiB). */
  maxDesktop?: number;
  /** Quiet time that ends a burst of desktop changes (default 50 ms). */
  debounceMs?: number;
  /** Longest wait between reconnection attempts (default 5 s). */
  maxBackoffMs?: number;
  log: (line: string) => void;
  signal: AbortSignal;
  /** Called once R's value is on the desktop (if it goes there) and the desktop is watched (if it is). */
  onReady?: () => void;
}

/** What the bridge did, for tests and for the log's closing line. */
export interface BridgeStats {
  toRegion: number;
  toDesktop: number;
  cleared: number;
}

const size = (n: number) => (n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / (1 << 20)).toFixed(1)} MiB`);

export async function runBridge(o: BridgeOptions): Promise<BridgeStats> {
  const { port, backend, signal, log } = o;
  const toDesktop = o.toDesktop ?? true;
  const fromDesktop = o.fromDesktop ?? true;
  const max = o.maxDesktop ?? 64 << 20;
  const R = `region ${o.region}`;
  const stats: BridgeStats = { toRegion: 0, toDesktop: 0, cleared: 0 };

  let region: { rev: number; hash: string | null; type: string | null } = { rev: 0, hash: null, type: null };
  let placed: { hash: string; rev: number } | null = null;
  let seen: string | null = null;
  /** The revision of the bridge's own last write to R: it came from this desktop, so it is not put back there. */
  let wrote = 0;
  /** When a desktop copy could not be written (the server away): if still the newer, it is written when the server is back. */
  let unwrittenAt: number | null = null;
  let tooBigLogged = "";

  let waitingFor = fromDesktop ? 2 : 1;
  const readyOne = () => {
    if (--waitingFor === 0) o.onReady?.();
  };

  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = chain.then(fn);
    chain = p.catch(() => {});
    return p;
  };

  /** The desktop's content now, as the bridge would fetch it: its fingerprint and the type R would store (and its bytes, if `keep`). */
  async function readDesktop(keep: boolean): Promise<
    | { kind: "empty" }
    | { kind: "none"; offered: string[] }
    | { kind: "big"; type: string }
    | { kind: "failed"; why: string }
    /** Another application copied while we read: a newer change is on its way. */
    | { kind: "moved" }
    | { kind: "value"; hash: string; type: string; bytes: Uint8Array }
  > {
    const offered = await backend.types();
    if (!offered.length) return { kind: "empty" };
    const chosen = chooseType(offered);
    if (!chosen) return { kind: "none", offered };
    const r = await backend.read(chosen, max, keep);
    if (!r.ok) return r.why === "toobig" ? { kind: "big", type: chosen } : { kind: "failed", why: r.detail };
    // The types and the bytes are two requests: if the owner changed between them, the bytes may
    // be another application's under this one's type (an xclip owner answers any type with its
    // value). Before a write, the types are asked again; a change means a newer copy is coming.
    if (keep && (await backend.types()).join("\n") !== offered.join("\n")) return { kind: "moved" };
    return { kind: "value", hash: r.digest, type: keep ? storedType(chosen, r.out) : chosen, bytes: r.out };
  }

  async function desktopHash(): Promise<string | null> {
    if (backend.held) return backend.held();
    // Only the digest: the value coming from R is in memory already, the desktop's need not be.
    const d = await readDesktop(false);
    return d.kind === "value" ? d.hash : d.kind === "empty" ? "" : null;
  }

  /** Puts a value from R on the desktop, unless the desktop holds it already. */
  async function place(v: RegionValue, why: string): Promise<void> {
    if (!v.bytes) {
      log(`${R} rev ${v.rev} (${size(v.size)}) is over --max-desktop ${size(max)}: not put on the desktop`);
      return;
    }
    const want = digest(v.bytes);
    // While the desktop is watched, `seen` is its content (a change since is on its way, and
    // settles the same either way); reading it again would cost a transfer of what may be a
    // large value, for nothing.
    const now = fromDesktop && seen !== null ? seen : await desktopHash();
    if (now === want) {
      seen = now;
      return;
    }
    let back: string;
    try {
      // Fingerprinted as read back, since the desktop may re-encode it.
      back = await backend.write(v.bytes, v.type);
    } catch (e) {
      // Someone copied meanwhile: their copy is the desktop's, and goes to R as one.
      if (!(e instanceof Superseded)) log(`could not put ${R} rev ${v.rev} on the desktop: ${(e as Error).message}`);
      return;
    }
    placed = { hash: back, rev: v.rev };
    seen = back;
    stats.toDesktop++;
    log(`${R} rev ${v.rev} -> desktop: ${size(v.size)} ${v.type}${why}`);
  }

  async function onChange(c: RegionChange): Promise<void> {
    if (c.kind === "write") {
      region = { rev: c.rev, hash: c.bytes ? digest(c.bytes) : null, type: c.type };
      if (toDesktop && c.rev !== wrote) await place(c, "");
    } else if (c.kind === "unreadable") {
      region = { rev: c.rev, hash: null, type: null };
      if (toDesktop) log(`${R} rev ${c.rev} not put on the desktop: ${c.reason}`);
    } else {
      const expired = new Set<string>();
      if (region.rev === c.expired && region.hash) expired.add(region.hash);
      if (placed?.rev === c.expired) expired.add(placed.hash);
      region = { rev: c.rev, hash: null, type: null };
      if (placed?.rev === c.expired) placed = null;
      // Whichever way the value came, no desktop keeps a value that expired.
      const now = expired.size ? await desktopHash() : null;
      if (now && expired.has(now)) {
        try {
          await backend.clear();
          seen = "";
          stats.cleared++;
          log(`${R} rev ${c.expired} expired: desktop clipboard cleared`);
        } catch (e) {
          log(`${R} rev ${c.expired} expired, but the desktop clipboard could not be cleared: ${(e as Error).message}`);
        }
      }
    }
  }

  async function onDesktop(fresh: boolean): Promise<void> {
    const d = await readDesktop(true);
    if (d.kind === "empty") {
      // The owner went away (or it was cleared): R keeps its value.
      seen = "";
      return;
    }
    if (d.kind === "moved") return;
    if (d.kind === "failed") {
      // Half-read or refused: nothing is written from it.
      log(`could not read the desktop clipboard: ${d.why}`);
      return;
    }
    if (d.kind === "none" || d.kind === "big") {
      const key = d.kind === "none" ? d.offered.join(",") : d.type;
      if (fresh || key !== tooBigLogged) {
        log(d.kind === "none" ? `desktop copy offers no image or text (${d.offered.slice(0, 6).join(", ")}): not written to ${R}` : `desktop copy (${d.type}) is over --max-desktop ${size(max)}: not written to ${R}`);
      }
      tooBigLogged = key;
      seen = null;
      return;
    }
    tooBigLogged = "";
    // Not fresh (a poll, a watcher starting): only a content change is a copy.
    const changed = fresh || d.hash !== seen;
    seen = d.hash;
    if (!changed) return;
    if (placed && d.hash === placed.hash) return; // our own value, read back: no echo
    if (d.hash === region.hash && d.type === region.type) return; // R holds it already
    let rev: number;
    try {
      rev = await port.write(d.bytes, d.type);
    } catch (e) {
      // Most often the server is away: the copy is written when it is back (regionLoop), if still the newer.
      unwrittenAt = Date.now();
      log(`desktop copy not written to ${R}: ${(e as Error).message}`);
      return;
    }
    unwrittenAt = null;
    region = { rev, hash: d.hash, type: d.type };
    wrote = rev;
    stats.toRegion++;
    log(`desktop -> ${R} rev ${rev}: ${size(d.bytes.length)} ${d.type}`);
  }

  let readyOnce = false;
  async function regionLoop(): Promise<void> {
    let backoff = 100;
    let down = false;
    while (!signal.aborted) {
      try {
        const st = await port.current({ signal, maxBytes: max });
        if (down) log(`server is back: following ${R} again`);
        down = false;
        backoff = 100;
        await serial(async () => {
          // A desktop copy written while current() was on its way (a copy made while the server
          // was down, written once it came back) is newer than what current() read: it stays on
          // the desktop, and R's change stream brings it (skipped there, as the bridge's own).
          if (wrote > st.rev) return;
          region = { rev: st.value?.rev ?? st.rev, hash: st.value?.bytes ? digest(st.value.bytes) : null, type: st.value?.type ?? null };
          // A desktop copy whose write failed while the server was away: newer than R's value (R's
          // was written before it, by its server's clock), it is written now, what the desktop holds
          // now read again, and R's value stays off the desktop; older, R's value goes over it.
          const failedAt = unwrittenAt;
          unwrittenAt = null;
          if (fromDesktop && failedAt !== null && (st.value?.at ?? 0) < failedAt) return onDesktop(true);
          // A desktop copy made while we were away whose event has not reached us yet: the desktop
          // no longer holds what we last saw there. It is newer than R's value and goes to R when
          // its event comes; putting R's value over it would lose it.
          if (fromDesktop && seen !== null && (await desktopHash()) !== seen) return;
          if (toDesktop && st.value) await place(st.value, " (current value)");
          if (toDesktop && st.unreadable) log(`${R} rev ${st.rev} not put on the desktop: ${st.unreadable}`);
        });
        if (!readyOnce) {
          readyOnce = true;
          readyOne();
        }
        for await (const c of port.changes(st.rev, { signal, maxBytes: max })) {
          if (signal.aborted) break;
          await serial(() => onChange(c));
        }
        if (!signal.aborted) throw new Error("the change stream ended");
      } catch (e) {
        if (signal.aborted) return;
        if (isClipError(e, "NOTFOUND")) {
          log(`${(e as Error).message}: starting again from ${R}'s current value`);
          await sleep(100, signal);
          continue;
        }
        const gone = isClipError(e, "LOST") || isClipError(e, "NOSERVER") || isClipError(e, "SHUTDOWN");
        if (!down) log(gone ? `lost the server (${(e as Error).message}): reconnecting` : `following ${R} failed: ${(e as Error).message}: trying again`);
        down = true;
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, o.maxBackoffMs ?? 5000);
      }
    }
  }

  async function desktopLoop(): Promise<void> {
    let backoff = 200;
    let watching = false;
    let pendingFresh = false;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let burstSince = 0;
    const debounce = o.debounceMs ?? 50;
    const tick = (t: Tick) => {
      pendingFresh ||= t.fresh;
      // Debounced: a burst of changes (an application setting the clipboard several times) is
      // one copy; a clipboard that never stops changing is still looked at every 10 windows.
      if (timer && Date.now() - burstSince < 10 * debounce) clearTimeout(timer);
      else if (timer) return;
      else burstSince = Date.now();
      timer = setTimeout(() => {
        timer = null;
        const fresh = pendingFresh;
        pendingFresh = false;
        serial(() => onDesktop(fresh)).catch((e) => log(`desktop copy failed: ${(e as Error).message}`));
      }, debounce);
    };
    while (!signal.aborted) {
      try {
        for await (const t of backend.watch(signal)) {
          backoff = 200;
          tick(t);
          if (!watching) {
            watching = true;
            // The first tick says it is watching: ready once the steps queued so far are done.
            serial(async () => {}).then(readyOne);
          }
        }
      } catch (e) {
        if (signal.aborted) break;
        log(`watching the desktop clipboard failed: ${(e as Error).message}; watching again in ${(backoff / 1000).toFixed(1)} s`);
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, 10_000);
        // A copy made while nobody watched is caught by comparing contents.
        if (!signal.aborted) tick({ fresh: false });
      }
    }
    if (timer) clearTimeout(timer);
  }

  // What the desktop holds at start is not a copy: it goes to R only when it next changes.
  await serial(async () => {
    seen = await desktopHash();
  });
  const loops: Promise<void>[] = [regionLoop()];
  if (fromDesktop) loops.push(desktopLoop());
  await Promise.all(loops);
  await chain;
  port.close?.();
  backend.close();
  return stats;
}
