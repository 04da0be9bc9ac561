// Test harness: the real `canopy` binary serving a temporary store on a free loopback port, a
// small REST client to seed it, and a headless Chromium driven by playwright-core.
//
// CANOPY_BIN names the binary (default: target/debug/canopy at the repository root, built with
// `cargo build -p canopy-cli`); CHROMIUM the browser (default /usr/bin/chromium).

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, appendFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const targetDir = process.env.CARGO_TARGET_DIR ? resolve(process.env.CARGO_TARGET_DIR) : join(ROOT, 'target');
export const BIN = process.env.CANOPY_BIN ?? join(targetDir, 'debug/canopy');
const BROWSER = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** Starts `canopy serve` on a new store; `setup(root)` runs on the store first. */
export async function startServer({ setup } = {}) {
  if (!existsSync(BIN)) throw new Error(`no canopy binary at ${BIN}: run cargo build -p canopy-cli or set CANOPY_BIN`);
  const dir = mkdtempSync(join(tmpdir(), 'canopy-ui-'));
  const store = join(dir, 'store');
  execFileSync(BIN, ['init', store], { stdio: 'ignore' });
  // Speed: these tests do not need durability.
  appendFileSync(join(store, 'config'), '[canopy]\n\tfsync = false\n');
  const extra = setup ? setup(store) : undefined;
  const child = spawn(BIN, ['--root', store, 'serve', '--addr', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const url = await new Promise((res, rej) => {
    let out = '';
    const timer = setTimeout(() => rej(new Error(`canopy serve did not start: ${stderr}`)), 20000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /on (http:\/\/[^/\s]+)\//.exec(out);
      if (m) {
        clearTimeout(timer);
        res(m[1]);
      }
    });
    child.on('exit', (code) => rej(new Error(`canopy serve exited (${code}): ${stderr}`)));
  });
  const stop = async () => {
    child.kill('SIGTERM');
    await new Promise((res) => (child.exitCode !== null ? res() : child.on('exit', res)));
    rmSync(dir, { recursive: true, force: true });
  };
  return { url, store, stop, extra };
}

/** A REST client of the server at `url`. */
export function client(url, token) {
  const headers = (more = {}) => (token ? { ...more, Authorization: `Bearer ${token}` } : more);
  const check = async (r) => {
    const body = await r.text();
    if (!r.ok) throw new Error(`${r.status} ${body}`);
    return body ? JSON.parse(body) : null;
  };
  const api = `${url}/api/v1`;
  const seg = encodeURIComponent;
  return {
    async put(branch, path, value, message) {
      const q = message ? `?message=${seg(message)}` : '';
      const r = await fetch(`${api}/branches/${seg(branch)}/values/${path}${q}`, { method: 'PUT', body: value, headers: headers() });
      return (await check(r)).commit;
    },
    async get(branch, path) {
      const r = await fetch(`${api}/branches/${seg(branch)}/values/${path}`, { headers: headers() });
      if (!r.ok) throw new Error(`${r.status}`);
      return r.text();
    },
    async json(method, rest, body) {
      const r = await fetch(`${api}/${rest}`, {
        method,
        headers: headers(body ? { 'Content-Type': 'application/json' } : {}),
        body: body ? JSON.stringify(body) : undefined,
      });
      return check(r);
    },
    async branch(name, from) {
      return this.json('POST', 'branches', { name, from });
    },
    async head(name) {
      return (await this.json('GET', `branches/${seg(name)}`)).head;
    },
    async commit(rev) {
      return this.json('GET', `commits/${seg(rev)}`);
    },
  };
}

/** A headless Chromium with a fresh profile; returns { context, page, close }. */
export async function startBrowser() {
  const profile = mkdtempSync(join(tmpdir(), 'canopy-ui-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: BROWSER,
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    // A CSP violation is reported on the console: the page must not cause any.
    if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text())) problems.push(m.text());
  });
  const close = async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, page, problems, close };
}
