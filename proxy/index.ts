/** The PandaKV proxy: `import { Proxy } from 'pandakv/proxy'`. */
export { Proxy } from './proxy-server.js';
export { PROXY_DEFAULTS } from './options.js';
export type { ProxyAuth, ProxyOptions } from './options.js';
export { CursorSigner } from './scan-cursor.js';
