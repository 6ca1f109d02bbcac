import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';

/**
 * Bytes of one part on their way to S3. UploadPart needs the length up front and we want to keep receiving while
 * earlier parts upload, so each part is written to a temporary file: memory stays flat whatever the part size.
 */
export class SpoolFile {
  private constructor(
    readonly path: string,
    private handle: FileHandle | null,
    private written: number,
  ) {}

  static async create(dir: string | undefined): Promise<SpoolFile> {
    const path = join(dir ?? tmpdir(), `tus-s3-${randomBytes(8).toString('hex')}.part`);
    const handle = await open(path, 'wx', 0o600);
    return new SpoolFile(path, handle, 0);
  }

  get size(): number {
    return this.written;
  }

  async write(data: Buffer): Promise<void> {
    if (!this.handle) throw new Error('spool file is closed');
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.handle.write(data, done, data.length - done);
      done += bytesWritten;
    }
    this.written += data.length;
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    await handle?.close();
  }

  read(sliceBytes = 256 * 1024): Readable {
    return createReadStream(this.path, { highWaterMark: sliceBytes });
  }

  /** Closes and deletes; never throws, so it can sit in every `finally`. */
  async dispose(): Promise<void> {
    await this.close().catch(() => undefined);
    await rm(this.path, { force: true }).catch(() => undefined);
  }
}
