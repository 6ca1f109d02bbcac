/**
 * What the client knows of an upload: the bytes the store acknowledged, in order, and, after an instance died
 * mid-PATCH, the bytes that PATCH sent, of which the store may have kept any prefix. Every offset the store reports
 * is checked against it: never below what was acknowledged, never beyond what was sent.
 */
export class UploadModel {
  private acked: Buffer = Buffer.alloc(0);
  private inDoubt: Buffer | null = null;
  size: number | null;
  finished = false;
  readonly log: string[] = [];

  constructor(
    readonly total: number,
    deferred: boolean,
  ) {
    this.size = deferred ? null : total;
  }

  get offset(): number {
    if (this.inDoubt) throw new Error('the offset is in doubt until the store is asked');
    return this.acked.length;
  }

  get bytes(): Buffer {
    return this.acked;
  }

  /** Bytes the upload still takes. */
  get remaining(): number {
    return this.total - this.offset;
  }

  /** The store acknowledged these bytes at the model's offset. */
  append(data: Buffer): void {
    this.acked = Buffer.concat([this.acked, data]);
  }

  /** A PATCH died with its instance after sending `data`: the store may have kept any prefix of it. */
  doubt(data: Buffer): void {
    this.inDoubt = data;
  }

  /** The store reported `offset` (`where` says how): it must be what the model knows, or settle a doubt honestly. */
  observe(offset: number, where: string): void {
    this.log.push(`${where}: offset ${offset}`);
    const known = this.acked.length;
    if (this.inDoubt) {
      this.check(
        offset >= known && offset <= known + this.inDoubt.length,
        `${where}: offset ${offset} after a crash, but ${known} were acknowledged and ${this.inDoubt.length} more sent`,
      );
      this.acked = Buffer.concat([this.acked, this.inDoubt.subarray(0, offset - known)]);
      this.inDoubt = null;
      return;
    }
    this.check(offset === known, `${where}: offset ${offset}, but the model has ${known}`);
  }

  check(condition: boolean, message: string): asserts condition {
    if (!condition) throw new Error(`${message}\n  history:\n    ${this.log.join('\n    ')}`);
  }
}
