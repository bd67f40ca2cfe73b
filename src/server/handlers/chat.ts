// Chat rooms: lines published on the node's bus (every server of the tree
// sees them, in the one order the root gives) and handed to whoever is in
// the room at that moment. Nothing is stored: a room nobody is in costs
// nothing, and a reader that stops reading is cut off, not buffered for.
//
// A name is one person's in a room. The server that orders the bus (the
// root) keeps who holds each name (the roster, a BusGate): a join under a
// name already held is not passed on; a "taken" message goes back instead,
// and the joiner's server refuses the join. A holder whose server has left
// the tree no longer holds its name; a client that joins again (after a
// lost connection) takes its own name back.

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

/** Names held at once, all rooms together, on the ordering server: past it a join is refused. */
const MAX_NAMES = 65_536;

/** Who holds a name: their join, their server, and the client's own id (the same across its reconnections). */
interface Holder {
  jid: string;
  sid: string;
  me: string;
}

/** The fields a join or a leave carries for the roster, not shown to clients. */
const INTERNAL = ["jid", "sid", "me"] as const;

function shown(msg: Record<string, unknown>): Record<string, unknown> {
  if (!("jid" in msg)) return msg;
  const out = { ...msg };
  for (const k of INTERNAL) delete out[k];
  return out;
}

/**
 * The roster, as a BusGate on the ordering server: a join whose name is held
 * by someone still here becomes {kind:"taken"} for the joiner alone; a leave
 * frees its name.
 */
function rosterGate(node: ClipNode, liveHere: (jid: string) => boolean) {
  const rooms = new Map<string, Map<string, Holder>>();
  let held = 0;
  const present = (h: Holder) => (h.sid === node.id ? liveHere(h.jid) : (node.bus.reaches?.(h.sid) ?? false));
  return (t: string, msg: Record<string, unknown>): Record<string, unknown> | null => {
    if (!t.startsWith("chat/") || typeof msg.jid !== "string" || typeof msg.name !== "string") return msg;
    const room = t.slice(5);
    const names = rooms.get(room) ?? new Map<string, Holder>();
    const h = names.get(msg.name);
    if (msg.kind === "leave") {
      if (h?.jid === msg.jid) {
        names.delete(msg.name);
        held--;
        if (names.size === 0) rooms.delete(room);
      }
      return msg;
    }
    if (msg.kind !== "join") return msg;
    const me = typeof msg.me === "string" ? msg.me : "";
    if (h && h.jid !== msg.jid && !(me && h.me === me) && present(h)) {
      return { kind: "taken", jid: msg.jid, why: `the name ${JSON.stringify(msg.name)} is taken in room ${JSON.stringify(room)}: choose another with --name` };
    }
    if (!h && held >= MAX_NAMES) return { kind: "taken", jid: msg.jid, why: "this tree's chat rooms are full; try again later" };
    if (!h) held++;
    names.set(msg.name, { jid: msg.jid, sid: typeof msg.sid === "string" ? msg.sid : "", me });
    rooms.set(room, names);
    return msg;
  };
}

export function chatHandlers(node: ClipNode): Record<string, Handler> {
  let joins = 0;
  /** Joins of this server's sessions that are in their room now, by jid. */
  const live = new Set<string>();
  node.busGates.push(rosterGate(node, (jid) => live.has(jid)));
  // Who a connection is in each room it joined ("room\nname"): a line is said only under a name its sender holds.
  const speaking = new WeakMap<object, Set<string>>();
  const as = (room: string, name: string) => `${room}\n${name}`;

  return {
    /**
     * chat.join {room, name, me?}: a subscription. The first EVT is
     * {kind:"joined"} once the room has taken the name; then every message,
     * join and leave of the room, in the bus's order. A name someone else
     * holds in the room fails the join: ERR USAGE. `me`, the client's own id,
     * lets it take its name back when it joins again after a lost connection.
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
        const me = typeof ctx.meta.me === "string" ? ctx.meta.me.slice(0, 64) : "";
        const jid = `${node.id}.${++joins}`;
        const { session } = ctx;
        session.lasting = true;
        let accepted = false;
        let left = false;
        const unsubscribe = node.subscribe(topic(room), (msg) => {
          if (ctx.cancelled || left) return;
          if (msg.kind === "taken") {
            if (msg.jid !== jid) return;
            left = true; // refused: there is nothing to leave
            unsubscribe();
            ctx.fail(new ClipError("USAGE", String(msg.why ?? `the name ${JSON.stringify(name)} is taken`)));
            return;
          }
          if (!accepted) {
            // What the room said before our own join came back is from before we were in it.
            if (msg.kind !== "join" || msg.jid !== jid) return;
            accepted = true;
            live.add(jid);
            let names = speaking.get(session);
            if (!names) speaking.set(session, (names = new Set()));
            names.add(as(room, name));
            ctx.event({ kind: "joined", room, server: node.name });
          }
          if (session.conn.queued > MAX_CHAT_BACKLOG) {
            ctx.fail(new ClipError("SLOW", "this chat reader fell too far behind and was cut off"));
            return;
          }
          ctx.event(shown(msg));
        });
        const leave = () => {
          if (left) return;
          left = true;
          unsubscribe();
          live.delete(jid);
          speaking.get(session)?.delete(as(room, name));
          node.publish(topic(room), { kind: "leave", name, at: Date.now(), server: node.name, jid, sid: node.id });
        };
        ctx.onCancel(leave);
        node.publish(topic(room), { kind: "join", name, at: Date.now(), server: node.name, jid, sid: node.id, me });
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
      run({ meta, session }) {
        const room = str(meta, "room");
        const name = str(meta, "name");
        if (!speaking.get(session)?.has(as(room, name))) {
          throw new ClipError("USAGE", `not in room ${JSON.stringify(room)} as ${JSON.stringify(name)}: join it under that name first (chat.join)`);
        }
        // cid lets a sender recognise its own line when it comes back round.
        const cid = typeof meta.cid === "string" && meta.cid.length <= 64 ? meta.cid : undefined;
        node.publish(topic(str(meta, "room")), { kind: "msg", name: str(meta, "name"), text: str(meta, "text"), at: Date.now(), server: node.name, ...(cid ? { cid } : {}) });
        return {};
      },
    },
  };
}
