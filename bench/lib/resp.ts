// A minimal RESP (Redis protocol) client on Bun.connect, the socket layer
// clip's library uses too, so that a row compares servers, not clients.
// Commands sent in one tick leave in one write (as clip's Conn does and as
// node-redis corks); replies are matched in order; pushes (SUBSCRIBE) go to
// a callback.

export class Resp {
  private buf = Buffer.alloc(0);
  private waiters: ((v: unknown) => void)[] = [];
  private onPush: ((v: unknown) => void) | null = null;
  private sock!: Awaited<ReturnType<typeof Bun.connect>>;
  private out: Buffer[] = [];

  static async open(path: string): Promise<Resp> {
    const r = new Resp();
    r.sock = await Bun.connect({ unix: path, socket: { data: (_s, chunk) => r.data(chunk), close: () => {} } });
    return r;
  }

  private data(chunk: Uint8Array): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : Buffer.from(chunk);
    while (true) {
      const r = parse(this.buf, 0);
      if (!r) return;
      this.buf = this.buf.subarray(r.end);
      const w = this.waiters.shift();
      if (w) w(r.value);
      else this.onPush?.(r.value);
    }
  }

  /** Sends one command and resolves with its reply (a Buffer for bulk strings, null for none). */
  command(...args: (string | Uint8Array)[]): Promise<unknown> {
    const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
    for (const a of args) {
      const b = Buffer.from(a);
      parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from("\r\n"));
    }
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      // A partial write is not retried: commands here are small and the kernel takes them whole.
      if (this.out.length === 0) queueMicrotask(() => this.flush());
      this.out.push(...parts);
    });
  }

  private flush(): void {
    const b = this.out.length === 1 ? this.out[0] : Buffer.concat(this.out);
    this.out = [];
    this.sock.write(b);
  }

  /** After SUBSCRIBE: every pushed message. */
  pushes(fn: (v: unknown) => void): void {
    this.onPush = fn;
  }

  close(): void {
    this.sock.end();
  }
}

/** Parses one RESP value at `at`; null when incomplete. */
function parse(b: Buffer, at: number): { value: unknown; end: number } | null {
  const nl = b.indexOf("\r\n", at);
  if (nl < 0) return null;
  const line = b.toString("latin1", at + 1, nl);
  switch (String.fromCharCode(b[at])) {
    case "+":
      return { value: line, end: nl + 2 };
    case "-":
      return { value: new Error(line), end: nl + 2 };
    case ":":
      return { value: Number(line), end: nl + 2 };
    case "$": {
      const n = Number(line);
      if (n < 0) return { value: null, end: nl + 2 };
      if (b.length < nl + 2 + n + 2) return null;
      return { value: b.subarray(nl + 2, nl + 2 + n), end: nl + 2 + n + 2 };
    }
    case "*": {
      const n = Number(line);
      const out: unknown[] = [];
      let p = nl + 2;
      for (let i = 0; i < n; i++) {
        const r = parse(b, p);
        if (!r) return null;
        out.push(r.value);
        p = r.end;
      }
      return { value: out, end: p };
    }
  }
  throw new Error(`bad RESP byte ${b[at]}`);
}
