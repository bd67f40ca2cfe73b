// clip serve: run a server until SIGINT/SIGTERM.

import { chmodSync, existsSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { dirname } from "node:path";
import { defaultSocketPath } from "../net/address.ts";
import { ClipError } from "../protocol/errors.ts";
import { stderrLogger } from "../server/log.ts";
import { startServer } from "../server/serve.ts";
import { parseSize, readToken } from "./common.ts";

export interface ServeFlags {
  listen?: string | string[];
  http?: string | string[];
  metricsTokenFile?: string;
  connect?: string | string[];
  token?: string;
  tokenFile?: string;
  insecure?: boolean;
  data?: string;
  memory?: boolean;
  name?: string;
  socket?: string;
  maxSize?: string;
  history?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  quiet?: boolean;
}

/** --history N: earlier values kept per region and key; bounded, since every one is kept on every server. */
function historyFlag(v: unknown): number {
  const s = String(v);
  if (!/^[0-9]{1,5}$/.test(s) || Number(s) > 10_000) throw new ClipError("USAGE", `bad --history ${JSON.stringify(v)}: give a whole number from 0 to 10000`);
  return Number(s);
}

export function defaultDataDir(env = process.env): string {
  return env.XDG_STATE_HOME ? `${env.XDG_STATE_HOME}/clip` : `${homedir()}/.local/state/clip`;
}

const list = (v: string | string[] | undefined): string[] =>
  (Array.isArray(v) ? v : v === undefined ? [] : [v]).flatMap((s) => String(s).split(",")).map((s) => s.trim()).filter(Boolean);

/**
 * The default socket's folder ($XDG_RUNTIME_DIR/clip, /tmp/clip-UID) is ours
 * alone: another user's folder there could swap the socket under our
 * clients, and one left open to others is closed to 0700. A folder named
 * with --socket or CLIP_SOCKET is the user's choice and left as it is.
 */
function secureDefaultFolder(socket: string): void {
  const dir = dirname(socket);
  if (!existsSync(dir)) return; // listen() creates it 0700
  const st = statSync(dir);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) {
    throw new ClipError("USAGE", `the socket folder ${dir} belongs to another user (uid ${st.uid}); remove it, or pass --socket`);
  }
  if (st.mode & 0o077) chmodSync(dir, 0o700);
}

export async function serve(flags: ServeFlags & { printSystemdUnit?: boolean }): Promise<void> {
  if (flags.printSystemdUnit) {
    const { systemdUnit } = await import("./systemd.ts");
    process.stdout.write(systemdUnit(process.argv.slice(process.argv.indexOf("serve") + 1)));
    return;
  }
  const name = flags.name !== undefined ? String(flags.name) : undefined;
  const log = stderrLogger(name ?? "clip", !!flags.quiet);
  // Catch the signals before the socket exists: a SIGTERM that arrives as
  // soon as clients can connect must still mean a clean stop, exit 0.
  let signalled: string | null = null;
  let onSignal = (sig: string) => {
    signalled = sig;
  };
  process.once("SIGINT", () => onSignal("SIGINT"));
  process.once("SIGTERM", () => onSignal("SIGTERM"));
  const socket = flags.socket ? String(flags.socket) : defaultSocketPath();
  if (!flags.socket && !process.env.CLIP_SOCKET) secureDefaultFolder(socket);
  const server = await startServer({
    socket,
    listen: list(flags.listen),
    connect: list(flags.connect),
    token: readToken(flags, "server"),
    insecure: !!flags.insecure,
    dataDir: flags.memory ? null : flags.data ? String(flags.data) : defaultDataDir(),
    maxSize: flags.maxSize !== undefined ? parseSize(flags.maxSize, "--max-size") : 1 << 30,
    history: flags.history !== undefined ? historyFlag(flags.history) : undefined,
    name,
    tls: flags.tlsCert || flags.tlsKey || flags.tlsCa ? { cert: flags.tlsCert, key: flags.tlsKey, ca: flags.tlsCa } : undefined,
    http: list(flags.http),
    metricsToken: flags.metricsTokenFile !== undefined ? readToken({ tokenFile: String(flags.metricsTokenFile) }, "server", "the metrics token file") : undefined,
    log,
  });
  const { node } = server;
  log("info", "started", `id ${node.id}, ${node.store.persistent ? `data in ${flags.data ?? defaultDataDir()}` : "in memory (--memory: nothing is kept)"}`);
  await new Promise<void>((resolve) => {
    onSignal = (sig: string) => {
      log("info", "stopping", `on ${sig}`);
      server.stop().then(resolve, resolve);
    };
    if (signalled) onSignal(signalled);
  });
  log("info", "stopped");
}
