// A command on a real terminal: script(1) gives it a pty, and what it prints
// is what the terminal saw. For the line editing, prompts and progress that
// only happen at a terminal. Stopped by pid when disposed.

export const haveScript = !!Bun.which("script");

export interface Terminal extends AsyncDisposable {
  proc: ReturnType<typeof Bun.spawn>;
  /** Everything the terminal has shown so far. */
  seen(): string;
  /** Types text, as keys (use "\r" for Enter). */
  type(text: string): void;
}

export function onTerminal(cmd: string, env: Record<string, string | undefined> = {}): Terminal {
  const proc = Bun.spawn(["script", "-qfec", cmd, "/dev/null"], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, TERM: "xterm", NO_COLOR: "1", ...env },
  });
  let seen = "";
  (async () => {
    const dec = new TextDecoder();
    for await (const c of proc.stdout as ReadableStream<Uint8Array>) seen += dec.decode(c, { stream: true });
  })();
  return {
    proc,
    seen: () => seen,
    type(text) {
      proc.stdin.write(text);
      proc.stdin.flush();
    },
    async [Symbol.asyncDispose]() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(9);
      await proc.exited;
    },
  };
}
