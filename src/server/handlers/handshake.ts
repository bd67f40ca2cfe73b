// hello and auth: the only requests allowed before a session is ready.

import { ClipError } from "../../protocol/errors.ts";
import { PROTOCOL_VERSION } from "../../protocol/frame.ts";
import type { PeerKind, WelcomeMeta } from "../../protocol/messages.ts";
import { clientProof, nonce, sameHex, serverProof } from "../../protocol/proof.ts";
import { checkTokenGuess } from "../auth.ts";
import { handoffOn } from "../handoff.ts";
import type { ClipNode } from "../node.ts";
import type { Handler } from "../session.ts";

const KINDS: PeerKind[] = ["cli", "lib", "peer"];

export function handshakeHandlers(node: ClipNode): Record<string, Handler> {
  return {
    hello: {
      preAuth: true,
      run({ meta, session }): WelcomeMeta {
        if (session.state !== "hello") throw new ClipError("PROTOCOL", "hello was already said");
        if (meta.v !== PROTOCOL_VERSION) {
          const err = new ClipError("VERSION", `protocol version ${JSON.stringify(meta.v)} is not spoken here (this server speaks ${PROTOCOL_VERSION}); upgrade the older side`);
          node.log("warn", "hello refused", `${session.describe()}: protocol version ${JSON.stringify(meta.v)}, this server speaks ${PROTOCOL_VERSION}`);
          queueMicrotask(() => session.close("protocol"));
          throw err;
        }
        session.kind = KINDS.includes(meta.kind as PeerKind) ? (meta.kind as PeerKind) : "lib";
        session.pid = typeof meta.pid === "number" ? meta.pid : 0;
        session.name = typeof meta.name === "string" ? meta.name.slice(0, 128) : "";
        session.once = meta.once === true;
        // The rule of SPEC "Groups and keys": admin over the unix socket, or over
        // TCP once the token is proved. An --insecure server trusts its TCP too.
        const needsProof = session.transport === "tcp" && !!node.opts.token;
        if (needsProof) {
          session.snonce = nonce();
          session.state = "auth";
          return { v: PROTOCOL_VERSION, server: node.name, id: node.id, auth: "token", nonce: session.snonce, admin: false };
        }
        session.admin = session.transport !== "tcp" || !!node.opts.insecure;
        session.ready();
        const welcome: WelcomeMeta & { handoff?: true } = { v: PROTOCOL_VERSION, server: node.name, id: node.id, auth: "none", admin: session.admin };
        // A local client may name files instead of sending their bytes (handoff.ts).
        if (session.transport === "unix" && handoffOn()) welcome.handoff = true;
        return welcome;
      },
    },
    auth: {
      preAuth: true,
      async run({ id, meta, session }) {
        if (session.state !== "auth") throw new ClipError("PROTOCOL", "no token proof is due");
        // One guess per connection: proofs pipelined behind a pending one would
        // each be checked, and a success answers at once while failures wait.
        if (session.proving) throw new ClipError("PROTOCOL", "a token proof is already being checked");
        session.proving = true;
        const token = node.opts.token!;
        const cnonce = typeof meta.cnonce === "string" ? meta.cnonce : "";
        const proof = typeof meta.proof === "string" ? meta.proof : "";
        const verdict = await checkTokenGuess(
          { delay: node.authDelay, turns: node.tokenTurns },
          `token:${session.conn.remote}`,
          // A connection that went while it waited its turn is not checked (it counts as a failure).
          () => session.state === "auth" && cnonce.length >= 16 && sameHex(proof, clientProof(token, session.snonce, cnonce)),
          (wait) => node.log("warn", "bad token", `from ${session.describe()}; answering in ${wait} ms`),
        );
        if (verdict === "busy") {
          session.close("local", new ClipError("BUSY", "too many failed token attempts on this server right now; try again shortly"));
          return undefined;
        }
        if (verdict === "wrong") {
          // The answer must leave before the close: a rejected run() would only
          // send it after a queued close had already ended the session.
          session.sendError(id, new ClipError("AUTH", "bad token: the cluster token does not match (check --token-file or CLIP_TOKEN)"));
          session.close("local");
          return undefined;
        }
        session.admin = true;
        session.ready();
        return { proof: serverProof(token, session.snonce, cnonce) };
      },
    },
  };
}
