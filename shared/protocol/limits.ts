/** Protocol limits shared by every endpoint. Each is an option where it is enforced. */
export interface ProtocolLimits {
  /** Longest key in bytes (memcached's limit). @default 250 */
  maxKeyBytes: number;
  /** Longest value in bytes. @default 1048576 */
  maxValueBytes: number;
  /** Largest WebSocket message in bytes; a bigger one closes the connection (1009). @default 8388608 */
  maxMessageBytes: number;
  /** Most frames in one message. @default 4096 */
  maxFramesPerMessage: number;
  /** Most entries one scan frame may ask for. @default 10000 */
  maxScanLimit: number;
  /** Most bucket ranges one scan frame may name in `ranges`. @default 65536 */
  maxScanRanges: number;
}

export const PROTOCOL_DEFAULTS: Readonly<ProtocolLimits> = Object.freeze({
  maxKeyBytes: 250,
  maxValueBytes: 1024 * 1024,
  maxMessageBytes: 8 * 1024 * 1024,
  maxFramesPerMessage: 4096,
  maxScanLimit: 10_000,
  maxScanRanges: 65_536,
});
