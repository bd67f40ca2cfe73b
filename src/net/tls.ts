// TLS options as the Bun adapters want them, read from the files the user names.

export interface TlsFiles {
  cert?: string;
  key?: string;
  ca?: string;
}

export function serverTls(files: TlsFiles): { cert: ReturnType<typeof Bun.file>; key: ReturnType<typeof Bun.file> } | undefined {
  if (!files.cert && !files.key) return undefined;
  if (!files.cert || !files.key) throw new Error("--tls-cert and --tls-key go together");
  return { cert: Bun.file(files.cert), key: Bun.file(files.key) };
}
