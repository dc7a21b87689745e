/** The part of rocksdb-native (no types of its own) the store bench uses. */
declare module 'rocksdb-native' {
  interface WriteBatch {
    tryPut(key: Uint8Array, value: Uint8Array): void;
    flush(): Promise<void>;
    destroy(): void;
  }
  interface ReadBatch {
    get(key: Uint8Array): Promise<Buffer | null>;
    tryFlush(): void;
    destroy(): void;
  }
  export default class RocksDB {
    constructor(path: string);
    ready(): Promise<void>;
    write(): WriteBatch;
    read(): ReadBatch;
    flush(): Promise<void>;
    close(): Promise<void>;
  }
}
