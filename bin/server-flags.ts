/**
 * Node flags PandaKV's own launcher, `bin/spawn.ts`, starts the data-path servers with
 * (`pandakv node` and `pandakv proxy` started by `pandakv up`, by the tests, and by the
 * benches that start clusters, `bench peers` among them; the SDK suite and the memory
 * bench start their single node with Node's defaults, so their figures stay comparable
 * with earlier runs). V8 takes them only on Node's command line: not at run time
 * (`v8.setFlagsFromString` comes after the heap is laid out) and not through
 * `NODE_OPTIONS`, which refuses them.
 *
 * `--min-semi-space-size=16`: the young generation never shrinks below 16 MiB per semi-space.
 * V8 starts it at 1 MiB and shrinks it back whenever a collection finds the allocation rate
 * low, which a server idle for a few seconds always is. A server then meets its next burst
 * with a young generation an eighth of the size it had settled at, collects eight times as
 * often, and takes about a second of scavenges to grow it back. Measured with the bench's
 * memcached load through the proxy after 4 s idle (docs/benchmarks.md, "The young
 * generation after idle"): the first second cost the three nodes 8.8 µs of CPU per
 * operation against 5.0 in the seconds after, and the proxy 12.8 against 11.2; with this
 * flag 5.5 and 11.0. The price is up to 2 × 16 MiB of young generation per process.
 */
export const SERVER_NODE_FLAGS: readonly string[] = Object.freeze(['--min-semi-space-size=16']);
