// Running a clipboard program (wl-paste, xclip, pbpaste...) and taking its
// output whole or not at all: a read counts only when the program exited 0
// after writing everything, so a half-read clipboard (owner gone mid-way,
// program killed, time out) never becomes a write. Output is bounded: past
// `max` bytes the program is stopped and the read is "too big".

export class ProgramMissing extends Error {
  constructor(readonly program: string) {
    super(`${program} is not installed`);
  }
}

export type RunResult =
  /** `digest`: SHA-256 of the whole output, computed as it streams; `out` is empty unless kept. */
  | { ok: true; out: Uint8Array; digest: string; size: number }
  | { ok: false; why: "toobig" | "failed"; detail: string };

export interface RunOptions {
  input?: Uint8Array;
  /** Largest output taken, in bytes. */
  max?: number;
  /** Keep the output (default), or only its digest: a comparison need not hold a second value. */
  keep?: boolean;
  timeoutMs?: number;
  env?: Record<string, string | undefined>;
  /**
   * For programs that fork a child to serve the clipboard (wl-copy, xsel):
   * the child keeps our pipes open for as long as it serves, so only the
   * exit status is waited for and output is not read.
   */
  detach?: boolean;
}

export function spawnProgram(argv: string[], opts: Parameters<typeof Bun.spawn>[1] = {}) {
  if (!Bun.which(argv[0], { PATH: (opts.env as Record<string, string> | undefined)?.PATH ?? process.env.PATH })) throw new ProgramMissing(argv[0]);
  return Bun.spawn(argv, opts);
}

export async function run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  if (opts.detach) {
    const proc = spawnProgram(argv, { stdin: opts.input ?? "ignore", stdout: "ignore", stderr: "ignore", env: opts.env ?? process.env });
    const timer = setTimeout(() => proc.kill(9), opts.timeoutMs ?? 15_000);
    const code = await proc.exited;
    clearTimeout(timer);
    return code === 0 ? { ok: true, out: new Uint8Array(0), digest: digest(new Uint8Array(0)), size: 0 } : { ok: false, why: "failed", detail: `${argv[0]} exited ${code ?? proc.signalCode}` };
  }
  const max = opts.max ?? Number.MAX_SAFE_INTEGER;
  const proc = spawnProgram(argv, {
    stdin: opts.input ?? "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: opts.env ?? process.env,
  });
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  const errReader = (proc.stderr as ReadableStream<Uint8Array>).getReader();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill(9);
    // A child of the program may hold the pipes open: stop reading them too.
    reader.cancel().catch(() => {});
    errReader.cancel().catch(() => {});
  }, opts.timeoutMs ?? 15_000);
  // stderr is read alongside, bounded too: a chatty program must not block on a full pipe.
  const err = (async () => {
    let s = "";
    for (;;) {
      const { done, value } = await errReader.read();
      if (done) break;
      if (s.length < 2000) s += new TextDecoder().decode(value);
    }
    return s.trim().split("\n")[0] ?? "";
  })().catch(() => "");
  const chunks: Uint8Array[] = [];
  const keep = opts.keep ?? true;
  const hasher = new Bun.CryptoHasher("sha256");
  let size = 0;
  let tooBig = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > max) {
        tooBig = true;
        proc.kill(9);
        await reader.cancel().catch(() => {});
        errReader.cancel().catch(() => {});
        break;
      }
      hasher.update(value);
      if (keep) chunks.push(value);
    }
  } catch {
    // a pipe error is a failed read, decided below by the exit status
  }
  const code = await proc.exited;
  clearTimeout(timer);
  const detail = await err;
  if (tooBig) return { ok: false, why: "toobig", detail: `over ${max} bytes` };
  if (timedOut) return { ok: false, why: "failed", detail: `${argv[0]} timed out` };
  if (code !== 0) return { ok: false, why: "failed", detail: detail || `${argv[0]} exited ${code ?? proc.signalCode}` };
  return { ok: true, out: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks), digest: hasher.digest("hex"), size };
}

/** A fingerprint of bytes, for "is this the same value" without keeping the value. */
export function digest(bytes: Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
}
