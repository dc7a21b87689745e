import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import { decodeCbor, encodeMessage } from '../../shared/protocol/codec.js';
import { LAYOUTS_HEADER, PACKED_V1_TOKEN, isPackedMessage } from '../../shared/protocol/packed-layout.js';
import { packedFrames } from './packed-frames.js';

/** What a script does with one incoming message: the frames to answer (any order), or nothing. */
export type Script = (frames: unknown[][], ws: WebSocket, fake: FakeNode) => unknown[][] | null | void;

/**
 * A scripted node speaking the real frames, for redirect loops, corrupt answers,
 * slow and dead nodes. Records every message it received.
 */
export class FakeNode {
  readonly messages: unknown[][][] = [];
  /** The layout of each message received, in order. */
  readonly layouts: Array<'cbor' | 'packed'> = [];
  /** Each message received, as its bytes. */
  readonly raw: Buffer[] = [];
  readonly sockets = new Set<WebSocket>();
  script: Script;
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  address = '';

  /**
   * @param isPackedOffered announce the packed layout in the upgrade answer, as a node does
   *   (by default it does not, as the proxy); a string: the layouts header's whole value
   */
  constructor(script: Script, isPackedOffered: boolean | string = false) {
    this.script = script;
    this.http = createServer();
    this.wss = new WebSocketServer({ server: this.http });
    this.wss.on('connection', this.onConnection);
    const offered = typeof isPackedOffered === 'string' ? isPackedOffered : isPackedOffered ? PACKED_V1_TOKEN : null;
    if (offered !== null) this.wss.on('headers', (headers: string[]) => headers.push(`${LAYOUTS_HEADER}: ${offered}`));
  }

  static async start(script: Script, isPackedOffered: boolean | string = false): Promise<FakeNode> {
    const fake = new FakeNode(script, isPackedOffered);
    fake.http.listen(0, '127.0.0.1');
    await once(fake.http, 'listening');
    const addr = fake.http.address() as { port: number };
    fake.address = `ws://127.0.0.1:${addr.port}`;
    return fake;
  }

  /** All frames received so far, flattened. */
  get frames(): unknown[][] {
    return this.messages.flat();
  }

  send(ws: WebSocket, frames: unknown[][]): void {
    ws.send(encodeMessage(frames));
  }

  async close(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  private readonly onConnection = (ws: WebSocket): void => {
    this.sockets.add(ws);
    ws.on('error', () => undefined);
    ws.on('close', () => this.sockets.delete(ws));
    ws.on('message', (data: RawData) => this.onMessage(ws, data as Buffer));
  };

  private onMessage(ws: WebSocket, data: Buffer): void {
    // Answers go back as CBOR, which a lane reads whatever layout it writes.
    const isPacked = isPackedMessage(data);
    this.layouts.push(isPacked ? 'packed' : 'cbor');
    this.raw.push(data);
    const frames = isPacked ? packedFrames(data) : decodeCbor(data).value as unknown[][];
    this.messages.push(frames);
    const answer = this.script(frames, ws, this);
    if (answer) this.send(ws, answer);
  }
}

/** A script that answers every frame OK with an echo of the key as value. */
export const echoOk: Script = (frames) => frames.map((f) => [f[0], 0, f[3] ?? null, 1, 0]);
