import type { TargetName } from '../config';
import type { Payload } from '../payload';
import type { Target, UploadOutcome } from './target';
import { TusClient } from './tus-client';

/** (b) or (c): a tus server child, fed by the bench's own tus client. */
export class TusTarget implements Target {
  private readonly client: TusClient;

  constructor(
    readonly name: TargetName,
    endpoint: string,
    payload: Payload,
    /** The S3 key of the final object of an upload id. */
    private readonly keyOf: (id: string) => string,
  ) {
    this.client = new TusClient(endpoint, payload);
  }

  async upload(size: number, patchSize: number): Promise<UploadOutcome> {
    const { url, postMs, patchMs } = await this.client.upload(size, patchSize);
    const id = new URL(url).pathname.split('/').pop()!;
    return { key: this.keyOf(id), postMs, patchMs };
  }

  close(): void {
    this.client.close();
  }
}
