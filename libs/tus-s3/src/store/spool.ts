import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';

/** Bytes kept in memory before a spool goes to disk, and the size of each disk write. */
const MEMORY_BYTES = 1024 * 1024;

/**
 * Bytes of one part on their way to S3. UploadPart needs the length up front and we want to keep receiving while
 * earlier parts upload, so a part is written to a temporary file and memory stays flat whatever the part size.
 * The first MiB stays in memory and the file is only created past it: a small PATCH (held back, or sent to Redis)
 * never touches the disk, and a large one is written in 1 MiB writes (one writev of the chunks as received)
 * rather than one per socket read.
 */
export class SpoolFile {
  private handle: FileHandle | null = null;
  private path: string | null = null;
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private written = 0;
  private closed = false;

  private constructor(private readonly dir: string) {}

  static async create(dir: string | undefined): Promise<SpoolFile> {
    return new SpoolFile(dir ?? tmpdir());
  }

  get size(): number {
    return this.written + this.bufferedBytes;
  }

  async write(data: Buffer): Promise<void> {
    if (this.closed) throw new Error('spool file is closed');
    this.buffered.push(data);
    this.bufferedBytes += data.length;
    if (this.bufferedBytes > MEMORY_BYTES) await this.flush();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.handle) await this.flush();
    const handle = this.handle;
    this.handle = null;
    await handle?.close();
  }

  read(sliceBytes = 256 * 1024): Readable {
    if (!this.path)
      return Readable.from(this.bufferedBytes > 0 ? [Buffer.concat(this.buffered)] : [], { objectMode: false });
    return createReadStream(this.path, { highWaterMark: sliceBytes });
  }

  /** Closes and deletes; never throws, so it can sit in every `finally`. */
  async dispose(): Promise<void> {
    this.closed = true;
    this.buffered = [];
    this.bufferedBytes = 0;
    const handle = this.handle;
    this.handle = null;
    await handle?.close().catch(() => undefined);
    if (this.path) await rm(this.path, { force: true }).catch(() => undefined);
  }

  private async flush(): Promise<void> {
    if (this.bufferedBytes === 0) return;
    if (!this.handle) {
      this.path = join(this.dir, `tus-s3-${randomBytes(8).toString('hex')}.part`);
      this.handle = await open(this.path, 'wx', 0o600);
    }
    // One writev of the received chunks as they are: no copy into one buffer first.
    let pending = this.buffered;
    const total = this.bufferedBytes;
    this.buffered = [];
    this.bufferedBytes = 0;
    while (pending.length > 0) {
      const { bytesWritten } = await this.handle.writev(pending);
      pending = remainderAfter(pending, bytesWritten);
    }
    this.written += total;
  }
}

/** What is left of `chunks` once their first `bytes` are written (a short write is rare, but allowed). */
export function remainderAfter(chunks: Buffer[], bytes: number): Buffer[] {
  let skip = bytes;
  let i = 0;
  while (i < chunks.length && skip >= chunks[i].length) skip -= chunks[i++].length;
  const rest = chunks.slice(i);
  if (rest.length > 0 && skip > 0) rest[0] = rest[0].subarray(skip);
  return rest;
}
