import { KvError } from '../../../shared/errors.js';
import type { CfgEntry, CfgEvent } from './cfg.js';
import { FileState, eventRev } from './file-state.js';

/** Marks a file as a PandaKV config store. */
export const FILE_FORMAT = 'pandakv-cfg';
/** Version of the file layout written by this code. */
export const FILE_VERSION = 1;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** Serialise the state as JSON (values in base64), one document per file. */
export function encodeState(state: FileState): string {
  const entryJson = (e: CfgEntry): JsonObject => ({
    key: e.key, value: Buffer.from(e.value).toString('base64'), modRev: e.modRev, createRev: e.createRev, lease: e.lease,
  });
  const eventJson = (e: CfgEvent): JsonObject =>
    e.type === 'put' ? { type: 'put', ...entryJson(e.entry) } : { type: 'delete', key: e.key, modRev: e.modRev };
  const doc: JsonObject = {
    format: FILE_FORMAT,
    version: FILE_VERSION,
    rev: state.rev,
    compactRev: state.compactRev,
    nextLeaseId: state.nextLeaseId,
    leases: [...state.leases.values()].map((l) => ({ id: l.id, ttlMs: l.ttlMs })),
    entries: [...state.entries.values()].map(entryJson),
    history: state.history.map(eventJson),
  };
  return `${JSON.stringify(doc)}\n`;
}

/**
 * Parse and check a state file. Anything unexpected is an error naming the file and the
 * problem: a damaged store must never load as an empty one.
 * @throws KvError INTERNAL when the text is not a valid state document
 */
export function decodeState(text: string, path: string): FileState {
  const fail = (why: string, cause?: unknown): KvError =>
    KvError.internal(`config file ${path} is corrupt: ${why}`, {}, cause);
  let doc: Json;
  try {
    doc = JSON.parse(text) as Json;
  } catch (err) {
    throw fail('not valid JSON', err);
  }
  const root = asObject(doc, 'document', fail);
  if (root['format'] !== FILE_FORMAT) throw fail(`format is not "${FILE_FORMAT}"`);
  if (root['version'] !== FILE_VERSION) throw fail(`unsupported version ${JSON.stringify(root['version'])}`);
  const state = new FileState();
  state.rev = asRev(root['rev'], 'rev', fail);
  state.compactRev = asRev(root['compactRev'], 'compactRev', fail);
  state.nextLeaseId = asRev(root['nextLeaseId'], 'nextLeaseId', fail);
  if (state.compactRev > state.rev) throw fail('compactRev is after rev');

  for (const [i, item] of asArray(root['leases'], 'leases', fail).entries()) {
    const l = asObject(item, `leases[${i}]`, fail);
    const id = asString(l['id'], `leases[${i}].id`, fail);
    if (state.leases.has(id)) throw fail(`lease ${id} appears twice`);
    state.leases.set(id, { id, ttlMs: asRev(l['ttlMs'], `leases[${i}].ttlMs`, fail) });
  }
  const readEntry = (o: JsonObject, where: string): CfgEntry => {
    const entry: CfgEntry = {
      key: asString(o['key'], `${where}.key`, fail),
      value: asBytes(o['value'], `${where}.value`, fail),
      modRev: asRev(o['modRev'], `${where}.modRev`, fail),
      createRev: asRev(o['createRev'], `${where}.createRev`, fail),
      lease: o['lease'] === null ? null : asString(o['lease'], `${where}.lease`, fail),
    };
    if (entry.createRev < 1 || entry.createRev > entry.modRev || entry.modRev > state.rev) {
      throw fail(`${where} has revisions out of order`);
    }
    return entry;
  };
  for (const [i, item] of asArray(root['entries'], 'entries', fail).entries()) {
    const entry = readEntry(asObject(item, `entries[${i}]`, fail), `entries[${i}]`);
    if (state.entries.has(entry.key)) throw fail(`key ${JSON.stringify(entry.key)} appears twice`);
    if (entry.lease !== null && !state.leases.has(entry.lease)) throw fail(`entries[${i}] names unknown lease ${entry.lease}`);
    state.entries.set(entry.key, entry);
  }
  const readEvent = (o: JsonObject, where: string): CfgEvent => {
    if (o['type'] === 'put') return { type: 'put', entry: readEntry(o, where) };
    if (o['type'] === 'delete') {
      return { type: 'delete', key: asString(o['key'], `${where}.key`, fail), modRev: asRev(o['modRev'], `${where}.modRev`, fail) };
    }
    throw fail(`${where} has an unknown type`);
  };
  let last = state.compactRev;
  for (const [i, item] of asArray(root['history'], 'history', fail).entries()) {
    const o = asObject(item, `history[${i}]`, fail);
    const event = readEvent(o, `history[${i}]`);
    const rev = eventRev(event);
    if (rev < last || rev <= state.compactRev || rev > state.rev) throw fail(`history[${i}] is out of order`);
    last = rev;
    state.history.push(event);
  }
  return state;
}

type Fail = (why: string) => KvError;

function asObject(v: Json | undefined, where: string, fail: Fail): JsonObject {
  if (v === null || v === undefined || typeof v !== 'object' || Array.isArray(v)) throw fail(`${where} is not an object`);
  return v;
}

function asArray(v: Json | undefined, where: string, fail: Fail): Json[] {
  if (!Array.isArray(v)) throw fail(`${where} is not an array`);
  return v;
}

function asString(v: Json | undefined, where: string, fail: Fail): string {
  if (typeof v !== 'string') throw fail(`${where} is not a string`);
  return v;
}

function asRev(v: Json | undefined, where: string, fail: Fail): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw fail(`${where} is not a non-negative integer`);
  return v;
}

function asBytes(v: Json | undefined, where: string, fail: Fail): Uint8Array {
  const text = asString(v, where, fail);
  if (text.length % 4 !== 0 || !BASE64.test(text)) throw fail(`${where} is not base64`);
  const buf = Buffer.from(text, 'base64');
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
