// A foreign Git smart-HTTP server for the tests: git's own `git http-backend` (CGI) behind a small
// Node HTTP server on a free loopback port, with or without CORS headers, serving the bare
// repositories under one directory. Also a plain static server, so that a page can come from an
// origin other than the Git server's.
import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { readFileSync, existsSync } from 'node:fs';
import { join, extname, normalize } from 'node:path';

const listen = (server) =>
  new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${server.address().port}`)));

/** `git` with the test's own settings (no user config, a fixed identity). */
export function git(cwd, ...args) {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_AUTHOR_NAME: 'Git User',
      GIT_AUTHOR_EMAIL: 'git@example.com',
      GIT_COMMITTER_NAME: 'Git User',
      GIT_COMMITTER_EMAIL: 'git@example.com',
    },
  });
}

/**
 * Serves `root`'s repositories at `<url>/<name>.git` through `git http-backend`. With `cors`, every
 * answer allows the origin `cors` (and preflight requests are answered); without, none is.
 */
export async function startGitHttp(root, { cors } = {}) {
  const requests = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const allow = cors
      ? {
          'Access-Control-Allow-Origin': cors,
          'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
          'Access-Control-Allow-Headers': 'Content-Type, Git-Protocol, Authorization',
          'Access-Control-Expose-Headers': 'Content-Type',
        }
      : {};
    if (req.method === 'OPTIONS') {
      res.writeHead(cors ? 204 : 405, allow);
      return res.end();
    }
    const url = new URL(req.url, 'http://localhost');
    const child = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH,
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_CONFIG_GLOBAL: '/dev/null',
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        REQUEST_METHOD: req.method,
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        GIT_PROTOCOL: req.headers['git-protocol'] ?? '',
        REMOTE_USER: 'tester',
        REMOTE_ADDR: '127.0.0.1',
      },
    });
    req.pipe(child.stdin);
    const chunks = [];
    child.stdout.on('data', (c) => chunks.push(c));
    child.on('close', () => {
      // A CGI answer: header lines, a blank line, the body.
      const out = Buffer.concat(chunks);
      const split = out.indexOf('\r\n\r\n');
      const head = out.subarray(0, split).toString('latin1');
      const body = out.subarray(split + 4);
      const headers = { ...allow };
      let status = 200;
      for (const line of head.split('\r\n')) {
        const at = line.indexOf(':');
        const name = line.slice(0, at).trim();
        const value = line.slice(at + 1).trim();
        if (name.toLowerCase() === 'status') status = parseInt(value, 10);
        else headers[name] = value;
      }
      res.writeHead(status, headers);
      res.end(body);
    });
  });
  const url = await listen(server);
  return { url, requests, stop: () => new Promise((r) => server.close(r)) };
}

const TYPES = { '.html': 'text/html', '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm' };

/** Serves an empty page at `/` and the files of `dir` under `/wasm/`, with no CSP. */
export async function startStatic(dir) {
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://localhost').pathname;
    if (path === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      return res.end('<!doctype html><title>a page elsewhere</title>');
    }
    const file = normalize(join(dir, path.replace(/^\/wasm\//, '')));
    if (!path.startsWith('/wasm/') || !file.startsWith(dir) || !existsSync(file)) {
      res.writeHead(404);
      return res.end();
    }
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  const url = await listen(server);
  return { url, stop: () => new Promise((r) => server.close(r)) };
}
