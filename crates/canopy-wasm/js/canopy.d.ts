// Types of canopy.mjs: a Canopy replica in a web page or in Node.

/** Loads the WebAssembly module (bytes in Node; by default the file beside canopy.mjs). */
export function load(source?: Uint8Array | ArrayBuffer | URL | string | Response): Promise<void>;

export type Value = Uint8Array;
export type Entry = { name: string; kind: 'value' | 'tree' | 'gitlink' };
export type Signature = { name: string; email: string; time: number; offset: number };
export type Commit = { id: string; parents: string[]; message: string; author: Signature; committer: Signature };
export type Change = { path: string; kind: 'added' | 'removed' | 'changed'; old: string | null; new: string | null };
export type MergeResult =
  | { outcome: 'up-to-date' | 'fast-forward' | 'merged'; commit: string }
  | { outcome: 'conflicts'; conflicts: { path: string; reason: string }[] };
export type RefChange = { name: string; before: string | null; value: string | null };
export type MergeArgs<T> = { path: string; base: T | null; ours: T | null; theirs: T | null };
export type Merged<T> = T | null | { conflict: string };
export type FetchResult = { objects: number; head: string | null; updated: { name: string; old: string | null; new: string }[] };
export type PushResult = { ok: boolean; objects: number; refs: { name: string; error: string | null }[] };

export class Replica {
  /** Opens the replica kept in IndexedDB database `name`, or an in-memory one. */
  static open(options?: { name?: string; hash?: 'sha1' | 'sha256'; memory?: boolean; indexedDB?: IDBFactory }): Promise<Replica>;
  static lineDiff(oldValue: string | Uint8Array | null, newValue: string | Uint8Array | null, context?: number): string;

  readonly replicaId: string;
  /** Headers sent with every sync request (e.g. Authorization). */
  headers: Record<string, string>;
  /** The fetch() used for sync (replaceable, e.g. to observe requests). */
  fetch: typeof globalThis.fetch;

  setIdentity(name: string, email: string): void;
  close(): void;

  get(rev: string, path: string): Promise<Value | undefined>;
  getText(rev: string, path: string): Promise<string | undefined>;
  getSync(rev: string, path: string): Value | undefined;
  list(rev: string, path?: string): Entry[];
  paths(rev: string, path?: string): string[];
  branches(): { name: string; head: string }[];
  refs(prefix?: string): { name: string; id: string }[];
  head(branch: string): string | undefined;
  resolve(rev: string): string;
  log(rev: string, limit?: number): Commit[];
  diff(from: string | null, to: string): Change[];

  set(branch: string, path: string, value: string | Uint8Array, message?: string): Promise<string>;
  remove(branch: string, path: string, message?: string): Promise<string>;
  transaction(
    branch: string,
    fn: (tx: { set(path: string, value: string | Uint8Array): void; remove(path: string): void }) => void,
    message?: string,
  ): Promise<string>;
  createBranch(name: string, rev: string): Promise<void>;
  deleteBranch(name: string): Promise<void>;

  registerMerge(name: string, fn: (args: MergeArgs<Uint8Array>) => Merged<Uint8Array | string>): void;
  registerMerge(name: string, fn: (args: MergeArgs<string>) => Merged<string>, options: { text: true }): void;
  merge(branch: string, from: string, message?: string): Promise<MergeResult>;
  mergeSides(branch: string, from: string, path: string): { base: Value | null; ours: Value | null; theirs: Value | null };
  mergeResolved(
    branch: string,
    from: string,
    resolutions: Map<string, string | Uint8Array | null> | Record<string, string | Uint8Array | null>,
    message?: string,
  ): Promise<string>;
  watch(fn: (change: RefChange) => void): () => void;

  remotes(): Record<string, { url: string; filter?: string }>;
  addRemote(name: string, url: string, options?: { filter?: string }): Promise<void>;
  clone(url: string, options?: { remote?: string; depth?: number; filter?: string }): Promise<FetchResult & { branch: string }>;
  fetchRemote(name?: string, options?: { depth?: number }): Promise<FetchResult>;
  pull(branch?: string, remote?: string): Promise<MergeResult>;
  push(branch?: string, remote?: string, options?: { force?: boolean }): Promise<PushResult>;
  sync(branch?: string, remote?: string): Promise<{ pulled: MergeResult; pushed?: PushResult }>;
}
