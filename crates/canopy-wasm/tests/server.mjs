// Starts a real `canopy serve` on a fresh store and a free loopback port, for the tests.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const canopyBin = process.env.CANOPY_BIN || join(root, 'target', 'debug', 'canopy');
export const bundle = join(root, 'crates', 'canopy-server', 'ui', 'wasm');

/** The WebAssembly module's bytes (Node cannot fetch a file:// URL). */
export const wasmBytes = () => readFileSync(join(bundle, 'canopy_wasm_bg.wasm'));

/** A server on a new store: `{url, dir, stop()}`; `seed(dir)` runs before it starts. */
export async function startServer({ seed } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'canopy-wasm-test-'));
  const store = join(dir, 'store');
  execFileSync(canopyBin, ['init', store], { stdio: 'pipe' });
  if (seed) seed(store);
  const child = spawn(canopyBin, ['serve', '--root', store, '--addr', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const look = (chunk) => {
      out += chunk;
      const m = out.match(/on (http:\/\/127\.0\.0\.1:\d+)\//);
      if (m) resolve(m[1]);
    };
    child.stdout.on('data', look);
    child.stderr.on('data', look);
    child.on('exit', (code) => reject(new Error(`canopy serve exited (${code}): ${out}`)));
    setTimeout(() => reject(new Error(`canopy serve did not start: ${out}`)), 20000).unref();
  });
  return {
    url,
    store,
    canopy: (...args) => execFileSync(canopyBin, args, { cwd: store, encoding: 'utf8', stdio: 'pipe' }),
    stop() {
      child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
