/**
 * Transport-ceiling server: a minimal WebSocket echo of the data protocol. Every
 * message is decoded once, each frame gets `[id, OK, <value>, 1, 0]`, and the answers
 * leave as one message. No engine, no validation: what remains is ws + CBOR.
 *
 * `node dist/bench/ceiling-server.js [--value-size B]`; prints
 * `ceiling-server listening on ws://127.0.0.1:PORT`, stops on SIGTERM/SIGINT or when
 * its stdin closes (the bench that started it is gone).
 */
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { decodeCbor, encodeMessage } from '../shared/protocol/codec.js';
import { numberArg, parseCommandLine, runCommand, untilSignal } from '../bin/cli-util.js';
import { makeValue } from './workload.js';

/** Largest message accepted, bytes. */
const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;

class CeilingServer {
  private readonly value: Uint8Array;
  private readonly wss: WebSocketServer;

  constructor(valueSize: number) {
    this.value = makeValue(valueSize);
    this.wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: MAX_PAYLOAD_BYTES });
    this.wss.on('connection', this.onConnection);
  }

  listening(): Promise<number> {
    return new Promise((resolve, reject) => {
      const onListening = (): void => {
        this.wss.off('error', reject);
        const address = this.wss.address();
        if (address === null || typeof address === 'string') reject(new Error(`unexpected address ${String(address)}`));
        else resolve(address.port);
      };
      this.wss.once('listening', onListening);
      this.wss.once('error', reject);
    });
  }

  close(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    return new Promise((resolve) => this.wss.close(() => resolve()));
  }

  private readonly onConnection = (ws: WebSocket): void => {
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: RawData) => this.onSocketMessage(ws, data));
    ws.on('error', this.onSocketError);
  };

  private onSocketMessage(ws: WebSocket, data: RawData): void {
    const { value } = data instanceof Uint8Array ? decodeCbor(data) : { value: undefined };
    if (!Array.isArray(value)) {
      ws.close(1003, 'expected a CBOR array of frames');
      return;
    }
    const frames = value as unknown[];
    const answers = new Array<unknown[]>(frames.length);
    for (let i = 0; i < frames.length; i++) {
      const frame = frames[i];
      answers[i] = [Array.isArray(frame) ? frame[0] : 0, 0, this.value, 1, 0];
    }
    ws.send(encodeMessage(answers));
  }

  private readonly onSocketError = (): void => {
    // The peer went away; the close event follows and nothing else is owed to it.
  };
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseCommandLine(argv, { 'value-size': { type: 'string' } });
  const valueSize = numberArg(values, 'value-size', (n) => Number.isSafeInteger(n) && n >= 0) ?? 100;
  const server = new CeilingServer(valueSize);
  const port = await server.listening();
  process.stdout.write(`ceiling-server listening on ws://127.0.0.1:${port}\n`);
  const parentGone = new Promise<void>((resolve) => {
    process.stdin.once('close', resolve);
    process.stdin.once('end', resolve);
    process.stdin.resume();
  });
  await Promise.race([untilSignal(), parentGone]);
  await server.close();
  process.stdin.destroy();
  return 0;
}

void runCommand('ceiling-server', () => main(process.argv.slice(2)));
