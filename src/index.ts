// The library: `import { connect } from "clip"`, under Bun (this source) and
// Node 20+ (dist/lib, built from it: package.json's exports). The client
// only: the server stands on Bun.listen and bun:sqlite, so an in-process
// server is `import { startServer } from "clip/server"`, under Bun alone.
export { Client, connect, collect, FileSource, type ClientOptions, type Clip, type ConnectOptions, type CopySource, type FollowOptions, type Message, type ReadOptions, type ReconnectOptions, type RegionClip, type WaitOptions, type WriteOptions, type Written } from "./client/client.ts";
export { ClipError, type ErrorCode } from "./protocol/errors.ts";
export type { HistoryRow, RegionInfo, ValueInfo } from "./protocol/messages.ts";
export { Groups, Kv, KvWatch, type AppInfo, type AppsReport, type GroupInfo, type KeyInfo, type KvEvent, type KvOptions, type PutOptions, type WatchOptions } from "./client/kv.ts";
// End-to-end encryption: connect({ key }) opens sealed values, copy/put({ encrypt }) seal them (docs/ENCRYPTION.md).
export { Key, createKeyFile, defaultKeyPath, generateKey, loadKey, readKeyFile } from "./crypto/key.ts";
export type { KeyOption } from "./client/sealing.ts";
