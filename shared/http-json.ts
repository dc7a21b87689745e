import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** An HTTP answer: status and body text. */
export interface HttpAnswer {
  status: number;
  text: string;
}

/** Options of `httpRequestText`. */
export interface HttpRequestOptions {
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  /** Deadline of the whole exchange. */
  timeoutMs: number;
  /** Longest body read back. @default 16777216 */
  maxBodyBytes?: number;
  /** Authorities (PEM) trusted for an https:// server's certificate. @default the system's */
  ca?: string;
}

/**
 * One HTTP(S) request with node:http, so any port works (fetch refuses its "bad ports",
 * 1 and 6000 among them) and failures keep their system error code.
 * @throws the socket's error (code ECONNREFUSED, …), or an Error named TimeoutError
 */
export function httpRequestText(url: URL, opts: HttpRequestOptions): Promise<HttpAnswer> {
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const limit = opts.maxBodyBytes ?? 16 * 1024 * 1024;
  return new Promise<HttpAnswer>((resolve, reject) => {
    const req = send(url, { method: opts.method, headers: opts.headers, ...(opts.ca === undefined ? {} : { ca: opts.ca }) });
    const timer = setTimeout(() => {
      const err = new Error(`no answer within ${opts.timeoutMs} ms`);
      err.name = 'TimeoutError';
      req.destroy(err);
    }, opts.timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > limit) {
          req.destroy(new Error(`answer over ${limit} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    req.end(opts.body);
  });
}
