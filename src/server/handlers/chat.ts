// Chat rooms: lines published on the node's bus (every server of the tree
// sees them, in the one order the root gives) and handed to whoever is in
// the room at that moment. Nothing is stored: a room nobody is in costs
// nothing, and a reader that stops reading is cut off, not buffered for.

import { ClipError } from "../../protocol/errors.ts";
import { str } from "../../protocol/messages.ts";
import type { ClipNode } from "../node.ts";
import type { Handler } from "../session.ts";

/** The longest line a client may say; longer ones are refused, not cut. */
export const MAX_CHAT_LINE = 4096;
/**
 * Bytes queued towards one chat reader before it counts as too slow. Far
 * below the connection's hard limit: chat lines are worth less than a paste.
 */
export const MAX_CHAT_BACKLOG = 1 << 20;

const ROOM_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const utf8 = new TextEncoder();

export function checkRoom(raw: unknown): string {
  if (typeof raw !== "string" || !ROOM_RE.test(raw)) {
    throw new ClipError("USAGE", `bad room ${JSON.stringify(raw ?? "")}: use 1 to 64 of A-Z a-z 0-9 _ . -`);
  }
  return raw;
}

export function checkNick(raw: unknown): string {
  // Control characters would let one user redraw another's terminal.
  if (typeof raw !== "string" || raw.length === 0 || raw.length > 32 || /[\u0000-\u001f\u007f\s:]/.test(raw)) {
    throw new ClipError("USAGE", `bad chat name ${JSON.stringify(raw ?? "")}: 1 to 32 characters, no spaces, colons or control characters`);
  }
  return raw;
}

export function checkLine(raw: unknown): string {
  if (typeof raw !== "string") throw new ClipError("PROTOCOL", `field "text" must be a string`);
  const n = utf8.encode(raw).length;
  if (n > MAX_CHAT_LINE) throw new ClipError("USAGE", `line of ${n} bytes refused: the limit is ${MAX_CHAT_LINE}`);
  if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(raw)) throw new ClipError("USAGE", "a chat line is one line of text, without control characters");
  return raw;
}

const topic = (room: string) => `chat/${room}`;

export function chatHandlers(node: ClipNode): Record<string, Handler> {
  return {
    /**
     * chat.join {room, name}: a subscription. The first EVT is {kind:"joined"};
     * then every message, join and leave of the room, in the bus's order.
     */
    "chat.join": {
      check(meta) {
        checkRoom(meta.room);
        checkNick(meta.name);
      },
      subscription: true,
      run(ctx) {
        const room = str(ctx.meta, "room");
        const name = str(ctx.meta, "name");
        const { session } = ctx;
        const unsubscribe = node.subscribe(topic(room), (msg) => {
          if (ctx.cancelled) return;
          if (session.conn.queued > MAX_CHAT_BACKLOG) {
            ctx.fail(new ClipError("SLOW", "this chat reader fell too far behind and was cut off"));
            return;
          }
          ctx.event(msg);
        });
        let left = false;
        const leave = () => {
          if (left) return;
          left = true;
          unsubscribe();
          node.publish(topic(room), { kind: "leave", name, at: Date.now(), server: node.name });
        };
        ctx.onCancel(leave);
        ctx.event({ kind: "joined", room, server: node.name });
        node.publish(topic(room), { kind: "join", name, at: Date.now(), server: node.name });
        return undefined;
      },
    },

    /** chat.say {room, name, text}: one line to everyone in the room; never stored. */
    "chat.say": {
      check(meta) {
        checkRoom(meta.room);
        checkNick(meta.name);
        checkLine(meta.text);
      },
      run({ meta }) {
        // cid lets a sender recognise its own line when it comes back round.
        const cid = typeof meta.cid === "string" && meta.cid.length <= 64 ? meta.cid : undefined;
        node.publish(topic(str(meta, "room")), { kind: "msg", name: str(meta, "name"), text: str(meta, "text"), at: Date.now(), server: node.name, ...(cid ? { cid } : {}) });
        return {};
      },
    },
  };
}
