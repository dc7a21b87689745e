/**
 * The page itself: a fixed HTML shell and the bundle esbuild built into `dist/ui`
 * (`npm run build:ui`). Nothing here is secret: the data comes only over the
 * authenticated feed and admin API.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** `dist/ui` of this package, seen from dist/cluster/manager/dashboard/. */
export const DEFAULT_ASSETS_DIR = fileURLToPath(new URL('../../../ui/', import.meta.url));

/** The files of the bundle a page may ask for, with their types. */
const FILES: Readonly<Record<string, string>> = Object.freeze({
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
});

/**
 * Scripts from this origin only (WebAssembly for the login's Argon2id); inline styles
 * for the chart library's positioning; nothing may frame the page.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'", "script-src 'self' 'wasm-unsafe-eval'", "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'",
].join('; ');

export const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>PandaKV dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/ui/app.css">
</head>
<body>
<div id="app"><p class="boot">Loading the dashboard…</p></div>
<script type="module" src="/ui/app.js"></script>
</body>
</html>
`;

export class Assets {
  private readonly cache = new Map<string, Buffer>();

  constructor(private readonly dir: string) {}

  /** The type of a bundle file, or undefined when `name` is not one. */
  typeOf(name: string): string | undefined {
    return Object.hasOwn(FILES, name) ? FILES[name] : undefined;
  }

  /** A bundle file's bytes; null when the bundle was not built. */
  async read(name: string): Promise<Buffer | null> {
    const hit = this.cache.get(name);
    if (hit !== undefined) return hit;
    try {
      const bytes = await readFile(join(this.dir, name));
      this.cache.set(name, bytes);
      return bytes;
    } catch {
      return null;
    }
  }
}
