import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { decodeResponses } from '../../shared/protocol/codec.js';
import { encodePackedRequests } from '../../shared/protocol/packed-requests.js';
import { decodePackedAnswers } from '../../shared/protocol/packed-answers.js';
import { PACKED_V1, PackedKind } from '../../shared/protocol/packed-layout.js';
import { Op } from '../../shared/protocol/ops.js';
import type { Response } from '../../shared/protocol/frames.js';
import { Status } from '../../shared/status.js';
import { connect } from '../../sdk/index.js';
import { spawnNode } from '../../bin/spawn.js';
import { withNode, openSocket } from '../helpers/fixtures.js';
import { withDeadline } from '../helpers/deadline.js';
import { FakeNode, echoOk } from '../helpers/fake-node.js';

const test = suite('integration - SETs with a durability in the packed layout');

const open = openSocket;

/** Send `data`, read the one message answering it, decoded from either layout. */
async function exchange(ws: WebSocket, data: Uint8Array): Promise<Response[]> {
  const reply = withDeadline(once(ws, 'message'), 5000, 'reply');
  ws.send(data);
  const [msg] = await reply as [Buffer];
  const answers = msg[0] === PACKED_V1 ? decodePackedAnswers(msg) : decodeResponses(msg);
  assert.ok(answers !== null, 'well-formed answers');
  return answers!;
}

/** The kind byte of the packed message that carried the SET of `key`, or null when it went as CBOR. */
function setKind(fake: FakeNode, key: string): number | null {
  for (let i = 0; i < fake.messages.length; i++) {
    const frames = fake.messages[i]!;
    if (!frames.some((f) => f[1] === Op.SET && f[3] === key)) continue;
    assert.is(frames.length, 1, 'the SET went alone');
    return fake.layouts[i] === 'packed' ? fake.raw[i]![1]! : null;
  }
  throw new Error(`no SET of ${key} reached the node`);
}

test('the SDK sends a SET with a durability packed only to a node that offers it', async () => {
  for (const [offer, expected] of [['packed1, packed1-durable', PackedKind.SET_DURABLE], ['packed1', PackedKind.CBOR]] as const) {
    const fake = await FakeNode.start(echoOk, offer);
    const db = await connect({ nodes: [fake.address] });
    try {
      await db.set('plain', 'v');
      await db.set('durable', 'v', { durability: 'majority' });
      assert.is(setKind(fake, 'plain'), PackedKind.SET, offer);
      assert.is(setKind(fake, 'durable'), expected, offer);
      const frame = fake.frames.find((f) => f[3] === 'durable')!;
      assert.equal(frame[8], { durability: 'majority' }, 'the node reads the same durability either way');
    } finally {
      await db.close();
      await fake.close();
    }
  }
});

test('a memory node refuses persist levels sent packed, runs the others, and answers a bad level byte by id', () => withNode([], async (node) => {
  const ws = await open(node.address);
  const msg = encodePackedRequests([
    [1, Op.SET, 0, 'p', 'v', 0, 0, 0, { durability: 'persist' }],
    [2, Op.SET, 0, 'pm', 'v', 0, 0, 0, { durability: 'persistMajority' }],
    [3, Op.SET, 0, 'm', 'v', 0, 0, 0, { durability: 'majority' }],
    [4, Op.SET, 0, 'bad', 'v', 0, 0, 0, { durability: 'majority' }],
  ], true);
  // Frame 4's durability byte: past the version byte, three frames of 31 + 1-2 key + 1 value bytes.
  const fourth = 1 + (31 + 1 + 1) + (31 + 2 + 1) + (31 + 1 + 1);
  assert.is(msg[fourth], PackedKind.SET_DURABLE);
  msg[fourth + 30] = 9;
  const byId = new Map((await exchange(ws, msg)).map((r) => [r.id, r]));
  assert.is(byId.get(1)!.status, Status.DURABILITY_IMPOSSIBLE);
  assert.is(byId.get(2)!.status, Status.DURABILITY_IMPOSSIBLE);
  assert.is(byId.get(3)!.status, Status.OK);
  assert.is(byId.get(4)!.status, Status.BAD_REQUEST);
  assert.match(String(byId.get(4)!.extra?.message), /durability must be/);
  const db = await connect({ nodes: [node.address] });
  try {
    assert.equal([await db.get('p'), await db.get('bad')], [null, null], 'refused writes did not run');
    assert.is(Buffer.from((await db.get('m'))!).toString(), 'v');
  } finally {
    await db.close();
  }
  ws.close();
}));

test('a disk node acknowledges a packed persist SET only once it is on disk: SIGKILL and restart keep it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pandakv-packed-durable-'));
  try {
    const dataDir = join(dir, 'data');
    const node = await spawnNode(['--insecure', '--data-dir', dataDir], 20_000);
    try {
      const ws = await open(node.address);
      const frames = Array.from({ length: 50 }, (_, i): unknown[] => [i + 1, Op.SET, 0, `k${i}`, `v${i}`, i, 0, 0, { durability: i % 2 === 0 ? 'persist' : 'persistMajority' }]);
      const msg = encodePackedRequests(frames, true);
      assert.is(msg[1], PackedKind.SET_DURABLE);
      const answers = await exchange(ws, msg);
      assert.equal(answers.filter((r) => r.status === Status.OK).length, 50);
      ws.terminate();
    } finally {
      await node.stop('SIGKILL');
    }
    const again = await spawnNode(['--insecure', '--data-dir', dataDir], 20_000);
    const db = await connect({ nodes: [again.address] });
    try {
      for (let i = 0; i < 50; i++) {
        const item = await db.getItem(`k${i}`);
        assert.equal([item === null ? null : Buffer.from(item.value).toString(), item?.flags], [`v${i}`, i], `k${i}`);
      }
    } finally {
      await db.close();
      await again.stop('SIGKILL');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
