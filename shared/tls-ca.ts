/** Trusted certificate authorities (PEM) for a client of a TLS listener; null = the system's. */
export type TlsCa = string | Buffer | readonly (string | Buffer)[];

/** The `ca` option of a ws/https client: absent when none is given (the system's roots apply). */
export function caOption(ca: TlsCa | null | undefined): { ca?: Array<string | Buffer> } {
  if (ca === null || ca === undefined) return {};
  return { ca: Array.isArray(ca) ? [...(ca as readonly (string | Buffer)[])] : [ca as string | Buffer] };
}
