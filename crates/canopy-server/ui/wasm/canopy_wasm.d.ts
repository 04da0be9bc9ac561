/* tslint:disable */
/* eslint-disable */

/**
 * A replica: a store in memory whose changes are journalled for the embedder to persist.
 */
export class Store {
    free(): void;
    [Symbol.dispose](): void;
    /**
     * Branches and their heads: JSON `[{name, head}]`.
     */
    branches(): string;
    /**
     * Commits a transaction; returns the new head (the old one when nothing changed).
     */
    commitTransaction(tx: Tx, message?: string | null): string;
    /**
     * Creates branch `name` at revision `rev`.
     */
    createBranch(name: string, rev: string): void;
    /**
     * Deletes branch `name`.
     */
    deleteBranch(name: string): void;
    /**
     * The changes from `from` to `to` (revisions; `from` empty: the empty tree): JSON `[{path,
     * kind, old, new}]` with `kind` added, removed or changed and value ids (or `null`).
     */
    diff(from: string, to: string): string;
    /**
     * What changed since the last call, for the embedder to store: `{objects: [{id, kind,
     * data}], refs: [{name, before, value}]}` (`value`: an id, `ref: <name>`, or `null` when
     * deleted; `before`: the id before the first change, or `null`).
     */
    drainJournal(): any;
    /**
     * The value at `path` in revision `rev` (a branch name, id…), or `undefined`.
     */
    get(rev: string, path_text: string): Uint8Array | undefined;
    /**
     * `"sha1"` or `"sha256"`.
     */
    hashKind(): string;
    /**
     * The head of `branch`, or `undefined` for an unborn branch.
     */
    head(branch: string): string | undefined;
    /**
     * The object the last failed call needed and did not have (a value a blobless clone left
     * out), as hex; the embedder fetches it (`fetchMissing`) and calls again.
     */
    lastMissing(): string | undefined;
    /**
     * A unified line diff of two values (git's `diff` of the two texts; `context` lines).
     */
    static lineDiff(old: Uint8Array | number[], _new: Uint8Array | number[], context: number): string;
    /**
     * The entries under `path` in `rev`: JSON `[{name, kind}]` (`kind`: value, tree, gitlink).
     */
    list(rev: string, path_text: string): string;
    /**
     * Restores an object read back from storage (`kind`: blob, tree, commit or tag); returns its
     * id, recomputed from the bytes.
     */
    loadObject(kind: string, data: Uint8Array | number[]): string;
    /**
     * Restores a reference: `value` is an id, or `ref: <name>` for a symbolic one.
     */
    loadRef(name: string, value: string): void;
    /**
     * Restores the shallow boundary saved from [`Store::shallow`].
     */
    loadShallow(ids: string): void;
    /**
     * History from `rev`, newest first, at most `limit` commits: JSON `[{id, parents, message,
     * author, committer}]`.
     */
    log(rev: string, limit: number): string;
    /**
     * Merges `from` into `branch` with the conflicting paths resolved by the caller:
     * `resolutions` is a `Map` from path to the chosen value (`Uint8Array`, or `null` to remove
     * it). Every conflicting path must be resolved. Returns the merge commit.
     */
    mergeResolved(branch: string, from: string, resolutions: Map<any, any>, message?: string | null): string;
    /**
     * The base, ours and theirs values of one path for a merge of `from` into `branch` (to show
     * a conflict): `{base, ours, theirs}`, each a `Uint8Array` or `null`.
     */
    mergeSides(branch: string, from: string, path_text: string): any;
    /**
     * Merges revision `from` into `branch`: JSON `{outcome, commit}` with `outcome` one of
     * up-to-date, fast-forward, merged, or `{outcome: "conflicts", conflicts: [{path, reason}]}`
     * (the branch unchanged).
     */
    merge(branch: string, from: string, message?: string | null): string;
    /**
     * An empty store (`HEAD` on `main`). `hash`: `"sha1"` (default) or `"sha256"`; `replica`:
     * the id of a replica being reopened (a new one is made when absent).
     */
    constructor(hash?: string | null, replica?: string | null);
    /**
     * Every value path under `path` in `rev`: JSON `[path]`.
     */
    paths(rev: string, path_text: string): string;
    /**
     * References under `prefix` (e.g. `refs/remotes/`): JSON `[{name, id}]`.
     */
    refs(prefix: string): string;
    /**
     * Registers a merge function written in JavaScript under `name`, for paths whose
     * `.gitattributes` say `merge=<name>` (see [`JsDriver`] for its contract).
     */
    registerMerge(name: string, f: Function): void;
    /**
     * Removes `path` (a value or a whole directory) from `branch` in one commit.
     */
    remove(branch: string, path_text: string, message?: string | null): string;
    /**
     * This replica's id (keep it to reopen the same replica).
     */
    replicaId(): string;
    /**
     * The commit a revision names: a branch, `HEAD`, a tag, an id or an abbreviation, with
     * `~n`/`^n`.
     */
    resolve(rev: string): string;
    /**
     * Who commits (name, email) and the local time zone's offset in minutes east of UTC.
     */
    setIdentity(name: string, email: string, offset_minutes: number): void;
    /**
     * Sets `path` on `branch` to `value` in one commit; returns the new head.
     */
    set(branch: string, path_text: string, value: Uint8Array | number[], message?: string | null): string;
    /**
     * The shallow boundary (commits whose parents were not fetched): JSON `[hex…]`.
     */
    shallow(): string;
    /**
     * Abandons the started sync operation (nothing of it was written).
     */
    syncCancel(): void;
    /**
     * Hands over the response to the request named `key`.
     */
    syncProvide(key: string, status: number, content_type: string | null | undefined, body: Uint8Array | number[]): void;
    /**
     * Runs the started operation as far as the responses known so far allow: `{need: {key,
     * method, url, headers, body}}` for the next request, or `{done: result}`.
     */
    syncRun(): any;
    /**
     * Starts a sync operation against the Git smart-HTTP repository at `url`; `op` is JSON:
     * `{"op": "fetch", "remote": "origin", "depth"?: n, "filter"?: "blob:none"}`,
     * `{"op": "push", "remote": "origin", "branch": "main", "force"?: bool}`,
     * `{"op": "missing", "ids": [hex…], "filter"?: …}`. Then call [`Store::sync_run`] until it
     * returns `{done}`, fetching each `{need}` and handing the response to
     * [`Store::sync_provide`].
     */
    syncStart(url: string, op: string): void;
    /**
     * Starts a transaction on `branch`: reads see the head as it is now; the commit merges
     * with whatever was committed meanwhile.
     */
    transaction(branch: string): Tx;
}

/**
 * An open transaction (see [`Store::transaction`]).
 */
export class Tx {
    private constructor();
    free(): void;
    [Symbol.dispose](): void;
    /**
     * Removes `path` when the transaction commits.
     */
    remove(path_text: string): void;
    /**
     * Sets `path` to `value` when the transaction commits.
     */
    set(path_text: string, value: Uint8Array | number[]): void;
}

/**
 * Installs the page's clock as the store's (the standard library has none on this target).
 */
export function start(): void;

export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;

export interface InitOutput {
    readonly memory: WebAssembly.Memory;
    readonly __wbg_store_free: (a: number, b: number) => void;
    readonly __wbg_tx_free: (a: number, b: number) => void;
    readonly start: () => void;
    readonly store_branches: (a: number) => [number, number, number, number];
    readonly store_commitTransaction: (a: number, b: number, c: number, d: number) => [number, number, number, number];
    readonly store_createBranch: (a: number, b: number, c: number, d: number, e: number) => [number, number];
    readonly store_deleteBranch: (a: number, b: number, c: number) => [number, number];
    readonly store_diff: (a: number, b: number, c: number, d: number, e: number) => [number, number, number, number];
    readonly store_drainJournal: (a: number) => [number, number, number];
    readonly store_get: (a: number, b: number, c: number, d: number, e: number) => [number, number, number, number];
    readonly store_hashKind: (a: number) => [number, number];
    readonly store_head: (a: number, b: number, c: number) => [number, number, number, number];
    readonly store_lastMissing: (a: number) => [number, number];
    readonly store_lineDiff: (a: number, b: number, c: number, d: number, e: number) => [number, number];
    readonly store_list: (a: number, b: number, c: number, d: number, e: number) => [number, number, number, number];
    readonly store_loadObject: (a: number, b: number, c: number, d: number, e: number) => [number, number, number, number];
    readonly store_loadRef: (a: number, b: number, c: number, d: number, e: number) => [number, number];
    readonly store_loadShallow: (a: number, b: number, c: number) => [number, number];
    readonly store_log: (a: number, b: number, c: number, d: number) => [number, number, number, number];
    readonly store_merge: (a: number, b: number, c: number, d: number, e: number, f: number, g: number) => [number, number, number, number];
    readonly store_mergeResolved: (a: number, b: number, c: number, d: number, e: number, f: any, g: number, h: number) => [number, number, number, number];
    readonly store_mergeSides: (a: number, b: number, c: number, d: number, e: number, f: number, g: number) => [number, number, number];
    readonly store_new: (a: number, b: number, c: number, d: number) => [number, number, number];
    readonly store_paths: (a: number, b: number, c: number, d: number, e: number) => [number, number, number, number];
    readonly store_refs: (a: number, b: number, c: number) => [number, number, number, number];
    readonly store_registerMerge: (a: number, b: number, c: number, d: any) => [number, number];
    readonly store_remove: (a: number, b: number, c: number, d: number, e: number, f: number, g: number) => [number, number, number, number];
    readonly store_replicaId: (a: number) => [number, number];
    readonly store_resolve: (a: number, b: number, c: number) => [number, number, number, number];
    readonly store_set: (a: number, b: number, c: number, d: number, e: number, f: number, g: number, h: number, i: number) => [number, number, number, number];
    readonly store_setIdentity: (a: number, b: number, c: number, d: number, e: number, f: number) => [number, number];
    readonly store_shallow: (a: number) => [number, number, number, number];
    readonly store_syncCancel: (a: number) => void;
    readonly store_syncProvide: (a: number, b: number, c: number, d: number, e: number, f: number, g: number, h: number) => [number, number];
    readonly store_syncRun: (a: number) => [number, number, number];
    readonly store_syncStart: (a: number, b: number, c: number, d: number, e: number) => [number, number];
    readonly store_transaction: (a: number, b: number, c: number) => [number, number, number];
    readonly tx_remove: (a: number, b: number, c: number) => [number, number];
    readonly tx_set: (a: number, b: number, c: number, d: number, e: number) => [number, number];
    readonly wasm_bindgen_7d4884b0003f6066___convert__closures_____invoke___js_sys_bfb9ef95839c9673___Function_fn_wasm_bindgen_7d4884b0003f6066___JsValue_____wasm_bindgen_7d4884b0003f6066___sys__Undefined___js_sys_bfb9ef95839c9673___Function_fn_wasm_bindgen_7d4884b0003f6066___JsValue_____wasm_bindgen_7d4884b0003f6066___sys__Undefined_______true_: (a: number, b: number, c: any, d: any) => void;
    readonly __wbindgen_malloc: (a: number, b: number) => number;
    readonly __wbindgen_realloc: (a: number, b: number, c: number, d: number) => number;
    readonly __wbindgen_free: (a: number, b: number, c: number) => void;
    readonly __wbindgen_exn_store: (a: number) => void;
    readonly __externref_table_alloc: () => number;
    readonly __wbindgen_externrefs: WebAssembly.Table;
    readonly __externref_table_dealloc: (a: number) => void;
    readonly __wbindgen_start: () => void;
}

export type SyncInitInput = BufferSource | WebAssembly.Module;

/**
 * Instantiates the given `module`, which can either be bytes or
 * a precompiled `WebAssembly.Module`.
 *
 * @param {{ module: SyncInitInput }} module - Passing `SyncInitInput` directly is deprecated.
 *
 * @returns {InitOutput}
 */
export function initSync(module: { module: SyncInitInput } | SyncInitInput): InitOutput;

/**
 * If `module_or_path` is {RequestInfo} or {URL}, makes a request and
 * for everything else, calls `WebAssembly.instantiate` directly.
 *
 * @param {{ module_or_path: InitInput | Promise<InitInput> }} module_or_path - Passing `InitInput` directly is deprecated.
 *
 * @returns {Promise<InitOutput>}
 */
export default function __wbg_init (module_or_path?: { module_or_path: InitInput | Promise<InitInput> } | InitInput | Promise<InitInput>): Promise<InitOutput>;
