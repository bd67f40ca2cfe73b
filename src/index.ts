// The library: `import { connect } from "clip"`.
export { Client, connect, collect, FileSource, type ConnectOptions, type CopyOptions, type CopySource, type Message, type WaitOptions } from "./client/client.ts";
export { ClipError, type ErrorCode } from "./protocol/errors.ts";
export type { RegionInfo } from "./protocol/messages.ts";
export { startServer, type RunningServer, type ServeOptions } from "./server/serve.ts";
export { Groups, Kv, KvWatch, type AppInfo, type AppsReport, type GroupInfo, type KeyInfo, type KvEvent, type KvOptions, type WatchOptions } from "./client/kv.ts";
