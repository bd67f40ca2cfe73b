// Flags shared by every client command, declared once for the three parsers
// (the main one, `clip kv ...` and `clip group ...`). Small and free of
// imports, so declaring them costs a command nothing.

/** The part of a cac command that flags are added to. */
interface Declares {
  option(name: string, description: string, config?: { type?: unknown[] }): this;
}

/** -s/--server, --token-file, --token and --tls-ca; all strings, never numbers. */
export function clientFlags<C extends Declares>(cmd: C): C {
  return cmd
    .option("-s, --server <addr>", "server address: unix:/path, /path, tcp:host:port (env CLIP_SERVER; default: the local socket)", { type: [String] })
    .option("--token-file <file>", "file holding the cluster token, for TCP servers", { type: [String] })
    .option("--token <token>", "cluster token (visible in ps: prefer --token-file or CLIP_TOKEN)", { type: [String] })
    .option("--tls-ca <file>", "CA certificate (PEM) to trust for a TLS server", { type: [String] });
}

/** cac hands `type: [String]` flags over as arrays; a flag given twice keeps the last (but --listen and --connect repeat). */
export function flat<T extends Record<string, unknown>>(o: T): T {
  const r: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) r[k] = Array.isArray(v) && k !== "listen" && k !== "connect" && k !== "--" ? v[v.length - 1] : v;
  return r as T;
}
