/**
 * Where an upload's objects live. Every key derives from a validated id, so nothing a client sends can address
 * another object.
 */
export class ObjectKeys {
  constructor(private readonly prefix: string) {}

  /** The final object, and the key of the multipart upload that becomes it. */
  final(id: string): string {
    return `${this.prefix}${id}`;
  }

  info(id: string): string {
    return `${this.prefix}${id}.info`;
  }

  /** A held-back chunk; the offset and a nonce make every chunk key unique, so a stale writer never overwrites one. */
  pendingChunk(id: string, offset: number, nonce: string): string {
    return `${this.prefix}${id}.chunk.${offset}.${nonce}`;
  }
}
