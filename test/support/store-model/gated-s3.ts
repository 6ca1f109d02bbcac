import { S3Client } from '@aws-sdk/client-s3';

type Send = (command: object, options?: object) => Promise<unknown>;

/** An S3 request of a dead instance: its command's name (`UploadPart`) and input. */
export interface HeldRequest {
  readonly name: string;
  readonly input: Record<string, unknown>;
}

/** A request a crashed instance made: never answered, unless let through late (a stale writer). */
interface HeldCall extends HeldRequest {
  land(): Promise<unknown>;
  fail(): void;
}

/**
 * One instance's S3 client, which can die: once cut, its requests are held and never answered (the process is gone,
 * or paused past its lock), so the instance's code stops where it was. A held request can still be let through later
 * (`land`): the request of a writer paused past its lock's TTL that reaches S3 after another instance took over.
 *
 * It wraps whatever `send` the client's prototype has when the call is made, so it works on a real client and on one
 * that aws-sdk-client-mock stubbed.
 */
export class GatedS3 {
  private cut = false;
  private gone = false;
  private crashAt: { calls: number; counting: string | undefined } | undefined;
  /** See `stallChunk`: waiting for the chunk PUT to hold, then for the journal write after it. */
  private stall: 'chunk' | 'journal' | undefined;
  private readonly held: HeldCall[] = [];

  constructor(readonly client: S3Client) {
    const prototypeSend = (Object.getPrototypeOf(client) as { send: Send }).send;
    (client as unknown as { send: Send }).send = (command, options) => {
      const call = () => prototypeSend.call(client, command, options);
      const name = command.constructor.name.replace(/Command$/, '');
      const input = (command as { input: Record<string, unknown> }).input;
      const hold = () =>
        new Promise((resolve, reject) => {
          this.held.push({
            name,
            input,
            land: () => call().then(resolve, reject),
            fail: () => reject(new Error('the instance is gone')),
          });
        });
      if (this.crashAt && (this.crashAt.counting ?? name) === name && --this.crashAt.calls === 0) this.cut = true;
      if (this.gone) return Promise.reject(new Error('the instance is gone'));
      if (this.cut) return hold();
      const key = name === 'PutObject' ? String(input.Key) : '';
      if (this.stall === 'chunk' && key.includes('.chunk.')) {
        this.stall = 'journal';
        return hold();
      }
      if (this.stall === 'journal' && key.endsWith('.info')) {
        this.stall = undefined;
        return call().finally(() => (this.cut = true));
      }
      return call();
    };
  }

  get isCut(): boolean {
    return this.cut;
  }

  /**
   * The instance dies at its `n`th request from now on (1: the next one), or its `n`th of the kind `counting` (e.g.
   * `UploadPart`): that request and all after it hang.
   */
  crashAtCall(n: number, counting?: string): void {
    this.crashAt = { calls: Math.max(n, 1), counting };
  }

  /**
   * The instance dies once the journal write that follows its next chunk PUT has landed, that PUT still on its way
   * (held): a process paused while its small journal had gone out and its chunk's megabyte had not.
   */
  stallChunk(): void {
    this.stall = 'chunk';
  }

  /**
   * After the test: the dead instance's requests fail, those held and any later ones (none reaches S3), so that its
   * abandoned writes run to their end and close their spool files.
   */
  bury(): void {
    this.gone = true;
    for (const call of this.held.splice(0)) call.fail();
  }

  /** The instance dies now. */
  crash(): void {
    this.cut = true;
  }

  /**
   * Lets the held requests `which` selects reach S3 now, late, in the order they were made; resolves with them
   * once each was answered or failed, or after `waitMs` (a late part whose body the dead instance can no longer read
   * never completes).
   */
  async land(which: (call: HeldRequest) => boolean, waitMs = 50): Promise<HeldRequest[]> {
    const chosen = this.held.filter(which);
    for (const call of chosen) this.held.splice(this.held.indexOf(call), 1);
    const settled = Promise.allSettled(chosen.map((call) => call.land()));
    await Promise.race([settled, new Promise((resolve) => setTimeout(resolve, waitMs))]);
    return chosen.map(({ name, input }) => ({ name, input }));
  }
}
