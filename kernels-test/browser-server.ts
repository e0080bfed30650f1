// What the browser tests share: a tiny static file server that serves chosen folders (and a few
// in-memory pages) on 127.0.0.1 at a free port (http://127.0.0.1 is a secure context, so pages get
// navigator.gpu), and how Debian's Chromium is started with WebGPU.
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * --enable-unsafe-webgpu is the one flag WebGPU needs on Linux: without it Chromium exposes
 * navigator.gpu but no adapter. With no usable GPU, Dawn then falls back to SwiftShader (Vulkan on
 * the CPU) by itself. The rest keep a headless run quiet and offline. Playwright adds --no-sandbox.
 */
export const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu',
  '--headless=new',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export const CHROMIUM_MISSING = `Chromium not found at ${CHROMIUM}: run \`bash scripts/setup.sh\`, which installs Debian's chromium (or set CHROMIUM_PATH)`;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.wgsl': 'text/plain; charset=utf-8',
};

export interface StaticServer {
  /** e.g. http://127.0.0.1:43125 (no trailing slash). */
  origin: string;
  close(): Promise<void>;
}

export interface StaticServerOptions {
  /** The folder that URL paths are relative to. */
  root: string;
  /** Top-level folders under root that may be served, e.g. ['dist', 'examples']. */
  folders: string[];
  /** URL path -> HTML served from memory, e.g. {'/blank.html': '<!doctype html>'}. */
  pages?: Record<string, string>;
}

export async function serveStatic(options: StaticServerOptions): Promise<StaticServer> {
  const server = createServer((req, res) => {
    void (async () => {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405).end();
        return;
      }
      const page = options.pages?.[path];
      if (page !== undefined) {
        res.writeHead(200, { 'content-type': CONTENT_TYPES['.html']!, 'cache-control': 'no-store' }).end(page);
        return;
      }
      // Directory URLs get their index.html; nothing outside the allowed folders is reachable.
      const relative = normalize(path.endsWith('/') ? `${path}index.html` : path).replace(/^[/\\]+/, '');
      const folder = relative.split(sep)[0];
      if (relative.startsWith('..') || !folder || !options.folders.includes(folder)) {
        res.writeHead(404).end('not found');
        return;
      }
      try {
        const body = await readFile(join(options.root, relative));
        const type = CONTENT_TYPES[extname(relative)] ?? 'application/octet-stream';
        res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : body);
      } catch {
        res.writeHead(404).end('not found');
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
