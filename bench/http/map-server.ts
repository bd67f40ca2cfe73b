// The reference for clip's HTTP door on small values: a minimal Bun.serve
// that stores each PUT's body in a Map by path and answers GETs from it,
// with nothing else (no routing, credentials, types, revisions or limits).
// bench/rows/http.ts drives it with the same wrk script as clip.
//
//   bun bench/http/map-server.ts PORT_FILE

export {};

const values = new Map<string, Uint8Array>();
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(req) {
    const path = new URL(req.url).pathname;
    if (req.method === "PUT") {
      values.set(path, await req.bytes());
      return Response.json({ ok: true });
    }
    const v = values.get(path);
    return v ? new Response(v) : new Response(null, { status: 204 });
  },
});
await Bun.write(process.argv[2], String(server.port));
