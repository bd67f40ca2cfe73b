// A steady write load with a log of what was acknowledged, for the
// durability test and `npm run chaos`. Each writer owns its targets (a
// region or kv keys) and writes them one at a time with numbered values
// ("w3:17"), so the check is exact: after any crash, a target must hold its
// last acknowledged value or a later one from the same writer; anything
// older is a lost write.

import { Client } from "../src/client/client.ts";
import type { Kv } from "../src/client/kv.ts";

export interface Target {
  kind: "region" | "key";
  /** Region number, or the key's name. */
  name: string;
  writer: number;
}

export interface WriterSpec {
  /** Address of the server this writer talks to (it reconnects there after a failure). */
  server: () => string;
  token?: string;
  targets: Target[];
  group?: { group: string; secret: string };
  /** Pad values to this many bytes (values over 64 KiB live in files: a second path to crash in). */
  pad?: number;
}

/** Per target: the highest number acknowledged, and the highest sent. */
export class AckLog {
  readonly acked = new Map<string, number>();
  readonly sent = new Map<string, number>();
  writes = 0;
  failures = 0;

  static id(t: Target): string {
    return `${t.kind}:${t.name}`;
  }

  /**
   * Compares what a server holds with the log. `read` returns the value of a
   * target ("" when absent). Returns one line per lost or impossible value.
   */
  async verify(targets: Target[], read: (t: Target) => Promise<string>): Promise<string[]> {
    const bad: string[] = [];
    for (const t of targets) {
      const id = AckLog.id(t);
      const acked = this.acked.get(id) ?? 0;
      const sent = this.sent.get(id) ?? 0;
      const v = await read(t);
      const m = /^w(\d+):(\d+)\.*$/.exec(v);
      const n = m && Number(m[1]) === t.writer ? Number(m[2]) : 0;
      if (n < acked) bad.push(`${id}: holds ${JSON.stringify(v)}, but w${t.writer}:${acked} was acknowledged`);
      else if (n > sent) bad.push(`${id}: holds ${JSON.stringify(v)}, never sent`);
    }
    return bad;
  }
}

/** Runs one writer until `stop` resolves; failures (server killed) mean reconnect and go on. */
export async function runWriter(w: WriterSpec, n: number, log: AckLog, stop: { stopped: boolean }): Promise<void> {
  let client: Client | null = null;
  let kv: Kv | null = null;
  let i = 0;
  while (!stop.stopped) {
    const t = w.targets[i++ % w.targets.length];
    const id = AckLog.id(t);
    const num = (log.sent.get(id) ?? 0) + 1;
    try {
      if (!client || client.closed) {
        client = await Client.connect({ server: w.server(), token: w.token, timeoutMs: 2000 });
        kv = w.group ? await client.kv(w.group) : null;
      }
      log.sent.set(id, num);
      const head = `w${n}:${num}`;
      const value = w.pad && w.pad > head.length ? head + ".".repeat(w.pad - head.length) : head;
      if (t.kind === "region") await client.copy(Number(t.name), value);
      else await kv!.put(t.name, value);
      // Acknowledged: from here on this write (or a later one) must survive.
      log.acked.set(id, num);
      log.writes++;
    } catch {
      log.failures++;
      client?.close();
      client = null;
      await Bun.sleep(20);
    }
  }
  client?.close();
}

/** Reads every target from one server, for AckLog.verify. */
export async function reader(server: string, token: string | undefined, group?: { group: string; secret: string }) {
  const c = await Client.connect({ server, token, timeoutMs: 5000 });
  const kv = group ? await c.kv(group) : null;
  const dec = new TextDecoder();
  return {
    read: async (t: Target): Promise<string> => {
      if (t.kind === "region") return dec.decode(await c.paste(Number(t.name)));
      try {
        return dec.decode(await kv!.get(t.name));
      } catch {
        return "";
      }
    },
    close: () => c.close(),
  };
}
