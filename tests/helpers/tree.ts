// Tree fixtures: servers on loopback TCP ports joined into chains and fans,
// each from the compiled binary (so kill -9 is real), all sharing one token.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Client, connect } from "../../src/index.ts";
import { type ServerHandle, startServer, tempDir, waitFor } from "./clip.ts";

/** A free loopback port: bound to 0 and released (restarts reuse the number). */
export function freePort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

export interface TreeNodeHandle extends ServerHandle {
  name: string;
  port: number;
  addr: string;
  /** A library client on the unix socket (opened once, closed with the server). */
  client(): Promise<Client>;
  status(): Promise<Record<string, unknown>>;
  /** Starts the server again on the same port and data folder (after kill -9). */
  restart(): Promise<void>;
}

export interface NodeSpec {
  name: string;
  /** Names (or addresses) of the parents to --connect to, in order. */
  connect?: string[];
  memory?: boolean;
  args?: string[];
  env?: Record<string, string>;
  tokenFile?: string;
  /** Wait until joined (status upstream "synced"); default true when connect is given. */
  waitSynced?: boolean;
}

export class TreeFixture implements AsyncDisposable {
  readonly dir = tempDir("ct");
  readonly tokenFile: string;
  readonly nodes = new Map<string, TreeNodeHandle>();

  constructor(token = "tree-test-token") {
    this.tokenFile = join(String(this.dir), "token");
    writeFileSync(this.tokenFile, token + "\n", { mode: 0o600 });
  }

  get(name: string): TreeNodeHandle {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  async add(spec: NodeSpec): Promise<TreeNodeHandle> {
    const port = freePort();
    const dir = join(String(this.dir), spec.name);
    const { mkdirSync } = await import("node:fs");
    mkdirSync(dir, { recursive: true });
    const connectTo = (spec.connect ?? []).map((c) => (this.nodes.has(c) ? this.nodes.get(c)!.addr : c));
    const args = [
      "--listen",
      `tcp:127.0.0.1:${port}`,
      "--token-file",
      spec.tokenFile ?? this.tokenFile,
      ...(connectTo.length ? ["--connect", connectTo.join(",")] : []),
      ...(spec.args ?? []),
    ];
    const launch = () => startServer({ dir, name: spec.name, memory: spec.memory, args, env: spec.env });
    let h = await launch();
    let client: Client | null = null;
    const node = Object.assign(h, {
      name: spec.name,
      port,
      addr: `127.0.0.1:${port}`,
      async client() {
        if (!client || client.closed) client = await connect({ server: `unix:${node.socket}` });
        return client;
      },
      async status() {
        const c = await node.client();
        return c.status();
      },
      async restart() {
        client?.close();
        client = null;
        h = await launch();
        Object.assign(node, { proc: h.proc, pid: h.pid, stderr: h.stderr, run: h.run, stop: h.stop, [Symbol.asyncDispose]: h[Symbol.asyncDispose] });
      },
    }) as TreeNodeHandle;
    const dispose = node[Symbol.asyncDispose].bind(node);
    node[Symbol.asyncDispose] = async () => {
      client?.close();
      await dispose();
    };
    this.nodes.set(spec.name, node);
    if (spec.waitSynced ?? connectTo.length > 0) await this.synced(spec.name);
    return node;
  }

  /** Waits until `name` has joined its parent and taken the snapshot. */
  async synced(name: string, timeoutMs = 15_000): Promise<void> {
    const n = this.get(name);
    await waitFor(async () => (await n.status()).upstream === "synced", timeoutMs, `${name} to join its parent`);
  }

  /** Waits until every server holds `bytes` in region r. */
  async converged(r: number, check: (bytes: Uint8Array, name: string) => boolean, timeoutMs = 15_000, names = [...this.nodes.keys()]): Promise<void> {
    for (const name of names) {
      const n = this.get(name);
      await waitFor(async () => check(await (await n.client()).paste(r), name), timeoutMs, `region ${r} on ${name}`);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all([...this.nodes.values()].map((n) => n[Symbol.asyncDispose]()));
    this.dir[Symbol.dispose]();
  }
}
