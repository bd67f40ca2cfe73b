// The bridge's RegionPort (port.ts) over the library client: region R of
// the clip server it is connected to, and through it of the whole tree.
// What this adds to the client:
// - a value over `maxBytes` is never pulled into memory: its reply is
//   cancelled (current) or its follow cut and begun again after it (changes);
// - expiries come through the follow (`expire: true`) and are told with the
//   revision of the value that expired, which is the last value the port saw
//   (the root orders an expiry only while that value is the current one);
// - a sealed value the client cannot open (no key, another key, damaged)
//   is an `unreadable` change, and the follow goes on after it;
// - after a lost connection, every call opens it again (client.revive());
//   the follow itself does not resume on its own, so the bridge learns of the
//   loss and starts again from R's current value.
// It takes two clients: the follow has a connection of its own, because a
// follow whose reader is busy (the bridge writing a desktop copy) fills its
// connection's buffer and pauses that connection's reading, and a write
// waiting for its answer on the same connection would then wait for ever.

import type { Client, Message } from "../client/client.ts";
import type { Key } from "../crypto/key.ts";
import { ClipError, isClipError } from "../protocol/errors.ts";
import { collect } from "../value/sink.ts";
import type { ReadOptions, RegionChange, RegionPort, RegionState, RegionValue } from "./port.ts";

export interface ClipPortOptions {
  /** Seal what the bridge writes (`--encrypt`): true for the client's key, or a Key. */
  encrypt?: boolean | Key;
  /** Ends a wait for the server to come back (the bridge is stopping). */
  signal?: AbortSignal;
}

/** A sealed value this client could not open, with the revision it came at (opened.ts puts it there). */
function unopened(e: unknown): (ClipError & { rev: number }) | null {
  return (isClipError(e, "AUTH") || isClipError(e, "VERSION")) && e.rev !== undefined ? (e as ClipError & { rev: number }) : null;
}

const sizeOf = (m: Message) => (typeof m.meta.size === "number" ? m.meta.size : Number(m.meta.size ?? 0));

export interface PortClients {
  /** For reads and writes. */
  calls: Client;
  /** For the follow alone. */
  follow: Client;
}

export function clipPort(clients: PortClients, region: number, o: ClipPortOptions = {}): RegionPort {
  const client = clients.calls;
  /** The revision of the value R held when last seen (by current() or in a follow): what an expiry expires. */
  let valueRev = 0;

  /** A client whose connection works, opened again if it was lost (until the bridge stops). */
  async function link(client: Client): Promise<void> {
    if (!client.closed) return;
    const stop = o.signal;
    if (!stop) return void (await client.revive());
    if (stop.aborted) throw new ClipError("LOST", "stopping");
    let onAbort!: () => void;
    const stopped = new Promise<never>((_, reject) => {
      onAbort = () => reject(new ClipError("LOST", "stopping"));
      stop.addEventListener("abort", onAbort, { once: true });
    });
    try {
      await Promise.race([client.revive(), stopped]);
    } finally {
      stop.removeEventListener("abort", onAbort);
    }
  }

  /** A message's value, whole, or without its bytes when over `max`; a body that cannot be opened is refused with its revision. */
  async function valueOf(m: Message & { done?(): void }, max: number): Promise<RegionValue> {
    const rev = Number(m.meta.rev ?? 0);
    const size = sizeOf(m);
    const type = String(m.meta.type ?? "");
    const at = typeof m.meta.at === "number" ? m.meta.at : undefined;
    if (size > max) {
      m.done?.(); // cancelled: the server stops sending it
      return { rev, type, size, bytes: null, at };
    }
    try {
      return { rev, type, size, bytes: await collect(m.body, size), at };
    } catch (e) {
      // A sealed value that opened but whose chunks do not verify (damaged, cut short).
      if ((isClipError(e, "AUTH") || isClipError(e, "VERSION")) && e.rev === undefined) throw new ClipError(e.code, e.message, { rev });
      throw e;
    } finally {
      m.done?.();
    }
  }

  return {
    async current(opts: ReadOptions = {}): Promise<RegionState> {
      const max = opts.maxBytes ?? Number.POSITIVE_INFINITY;
      await link(client);
      for (;;) {
        let m: Message & { done(): void };
        try {
          m = await client.pasteStream(region);
        } catch (e) {
          const u = unopened(e);
          if (!u) throw e;
          valueRev = u.rev;
          return { rev: u.rev, value: null, unreadable: u.message };
        }
        const rev = Number(m.meta.rev ?? 0);
        if (rev > 0) {
          let value: RegionValue;
          try {
            value = await valueOf(m, max);
          } catch (e) {
            const u = unopened(e);
            if (!u) throw e;
            valueRev = u.rev;
            return { rev: u.rev, value: null, unreadable: u.message };
          }
          valueRev = rev;
          return { rev, value };
        }
        m.done();
        // Empty: R's latest revision is its newest history row (an expiry, a delete), so that a
        // follow from it replays nothing older. A value written meanwhile is read again instead.
        const rows = await client.history(region);
        if (rows.length === 0) return { rev: 0, value: null };
        if (rows[0].event !== "put") {
          valueRev = 0;
          return { rev: rows[0].rev, value: null };
        }
      }
    },

    async *changes(since: number, opts: ReadOptions = {}): AsyncIterable<RegionChange> {
      const max = opts.maxBytes ?? Number.POSITIVE_INFINITY;
      let from = since;
      for (;;) {
        // A change that cuts the follow (a value skipped, one that cannot be opened): given once
        // the follow is cancelled (no unread value holds the connection meanwhile), then the
        // follow begins again after it.
        let cut: RegionChange | null = null;
        try {
          await link(clients.follow);
          for await (const m of clients.follow.followStream(region, { since: from, signal: opts.signal, resume: false, expire: true })) {
            const rev = Number(m.meta.rev ?? 0);
            from = rev;
            if (m.meta.event === "expire") {
              const expired = valueRev;
              valueRev = 0;
              yield { kind: "expire", rev, expired };
              continue;
            }
            valueRev = rev;
            if (sizeOf(m) > max) {
              cut = { kind: "write", rev, type: String(m.meta.type ?? ""), size: sizeOf(m), bytes: null };
              break;
            }
            let v: RegionValue;
            try {
              v = await valueOf(m, max);
            } catch (e) {
              if (!unopened(e)) throw e;
              cut = { kind: "unreadable", rev, reason: (e as Error).message };
              break;
            }
            yield { kind: "write", ...v };
          }
        } catch (e) {
          if (opts.signal?.aborted) return;
          const u = unopened(e);
          if (!u) {
            // A server that lost its data (no --data) numbers from 0 again: `since` is then ahead of it.
            if (isClipError(e, "USAGE")) throw new ClipError("NOTFOUND", `revision ${from} is not this server's (${e.message})`);
            throw e;
          }
          // Refused before a byte of it was given (no key, another key): the follow ended there.
          valueRev = u.rev;
          from = u.rev;
          cut = { kind: "unreadable", rev: u.rev, reason: u.message };
        }
        if (!cut) return;
        yield cut;
      }
    },

    async write(bytes: Uint8Array, type: string): Promise<number> {
      await link(client);
      const w = await client.copy(region, bytes, { type, encrypt: o.encrypt || undefined });
      return w.rev;
    },

    close() {
      client.close();
      clients.follow.close();
    },
  };
}
