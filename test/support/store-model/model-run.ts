import { Readable } from 'node:stream';
import { StorageError } from '../../../libs/tus-s3/src/store/store-errors';
import { isFinished, Upload, WriteOutcome } from '../../../libs/tus-s3/src/store/tus-data-store';
import { clientBody } from './client-body';
import { ByteSource, Command, Scenario } from './scenario';
import { StoreFleet, StoreInstance } from './store-fleet';
import { testLock } from './test-lock';
import { UploadModel } from './upload-model';

/** What the model needs of S3 besides the stores: the objects and parts as they are, to judge the end. */
export interface S3View {
  object(key: string): Promise<Buffer | undefined>;
  /** Part number → ETag of a multipart upload's parts. */
  parts(key: string, uploadId: string): Promise<Map<number, string>>;
}

export interface RunResult {
  finished: boolean;
  /** Completion failed because a late part of a dead instance replaced a part the journal lists (InvalidPart). */
  staleCaught: boolean;
  crashes: number;
  lateParts: number;
}

type PatchResult = { refused: true; offset: number } | { refused: false; outcome: WriteOutcome };

/**
 * Runs one scenario against a fleet of stores, the way the HTTP layer drives them (one writer at a time, as the lock
 * guarantees, but a dead writer's late requests may still land), and checks every reported offset against the
 * model and, at the end, the final object's bytes.
 */
export async function runScenario(fleet: StoreFleet, s3: S3View, scenario: Scenario, id: string): Promise<RunResult> {
  const run = new ModelRun(fleet, s3, scenario, id);
  try {
    return await run.run();
  } finally {
    run.abandon();
  }
}

class ModelRun {
  private readonly model: UploadModel;
  private readonly bytes: ByteSource;
  private readonly lateParts = new Set<number>();
  private crashes = 0;
  /** Bodies of PATCHes whose instance died: never ended, until the run is over. */
  private readonly deadBodies: Readable[] = [];
  /** No write settled since an instance died: the upload may be complete but unfinished (see `settled`). */
  private crashedSinceWrite = false;

  constructor(
    private readonly fleet: StoreFleet,
    private readonly s3: S3View,
    private readonly scenario: Scenario,
    private readonly id: string,
  ) {
    this.model = new UploadModel(scenario.total, scenario.deferred);
    this.bytes = new ByteSource(scenario.seed);
  }

  async run(): Promise<RunResult> {
    const model: UploadModel = this.model;
    const created = await this.fleet.at(0).store.create({
      id: this.id,
      size: model.size,
      metadataHeader: '',
      metadata: {},
    });
    model.log.push(`create ${this.scenario.deferred ? 'deferred' : model.size}`);
    this.settled(created);
    try {
      for (const command of this.scenario.commands) await this.apply(command);
      if (this.scenario.lateBeforeFinish) await this.apply({ kind: 'late' });
      await this.finish();
    } catch (error) {
      if (await this.staleCaught(error)) return this.result(false, true);
      throw error;
    }
    const object = await this.s3.object(`${this.fleet.options.objectPrefix}${this.id}`);
    model.check(object !== undefined, 'finished, but the final object is missing');
    model.check(
      object.equals(model.bytes),
      `final object of ${object.length} bytes differs from the ${model.bytes.length} sent (first difference at ${firstDifference(object, model.bytes)})`,
    );
    return this.result(true, false);
  }

  private async apply(command: Command): Promise<void> {
    const model: UploadModel = this.model;
    model.log.push(JSON.stringify(command));
    if (model.finished && command.kind !== 'head' && command.kind !== 'late') return;
    switch (command.kind) {
      case 'write': {
        const data = this.bytes.next(Math.min(command.size, model.remaining));
        const outcome = await this.patchOk(command.via, clientBody(data, command.pieces, 'end'), data.length);
        model.check(outcome.stop === 'end' && !outcome.failure, `write: stop ${outcome.stop}, ${outcome.failure}`);
        model.append(data);
        this.settled(outcome.upload);
        return;
      }
      case 'wrong-offset': {
        const offset = model.offset + command.delta;
        if (offset < 0) return;
        const result = await this.patch(
          this.fleet.at(command.via),
          offset,
          clientBody(Buffer.alloc(16), [], 'end'),
          16,
        );
        model.check(result.refused, `a PATCH at ${offset} was accepted where the model has ${model.offset}`);
        return this.head(command.via + 1);
      }
      case 'interrupt': {
        const planned = Math.min(command.size, model.remaining);
        const data = this.bytes.next(Math.floor(command.sent * planned));
        const body = clientBody(data, command.pieces, command.ending);
        const outcome = await this.patchOk(command.via, body, planned);
        model.check(!outcome.failure, `interrupted write failed: ${outcome.failure}`);
        // Every byte sent was read by the store (see clientBody): a PATCH that stops early keeps all of them.
        model.append(data);
        this.settled(outcome.upload);
        return this.head(command.via + 1);
      }
      case 'crash':
        return this.crash(command);
      case 'late': {
        for (const dead of this.fleet.crashed) {
          const landed = await dead.s3.land(
            ({ name, input }) =>
              name === 'UploadPart' || (name === 'PutObject' && String(input.Key).includes('.chunk.')),
          );
          for (const call of landed) if (call.name === 'UploadPart') this.lateParts.add(Number(call.input.PartNumber));
          if (landed.length > 0) model.log.push(`  landed late: ${landed.map((c) => c.name).join(', ')}`);
        }
        return;
      }
      case 'head':
        return this.head(command.via);
      case 'declare':
        if (model.size !== null) return;
        return this.declare(command.via);
    }
  }

  /** The instance dies mid-PATCH; then a HEAD elsewhere must report an honest offset, which the model adopts. */
  private async crash(command: Extract<Command, { kind: 'crash' }>): Promise<void> {
    const data = this.bytes.next(Math.min(command.size, this.model.remaining));
    const instance = this.fleet.at(command.via);
    if (command.journalFirst) instance.s3.stallChunk();
    else instance.s3.crashAtCall(command.atCall, command.atPart ? 'UploadPart' : undefined);
    const body = clientBody(data, command.pieces, command.bodyEnds ? 'end' : 'hang');
    this.deadBodies.push(body);
    let settled = false;
    // The dead instance's lock is never released: it holds it as far as it knows.
    void this.patch(instance, this.model.offset, body, data.length, false)
      .catch(() => undefined)
      .finally(() => (settled = true));
    for (let waited = 0; !settled && !instance.s3.isCut && waited < 100; waited += 2)
      await new Promise((resolve) => setTimeout(resolve, 2));
    this.fleet.crash(instance);
    this.crashes++;
    this.model.log.push(`  ${instance.name} died (${settled ? 'after answering' : 'mid-write'})`);
    this.model.doubt(data);
    this.crashedSinceWrite = true;
    await this.head(command.via + 1, true);
  }

  private async head(via: number, afterCrash = false): Promise<void> {
    const instance = this.fleet.at(via);
    const lock = testLock();
    try {
      const upload = await instance.store.get(this.id, lock);
      this.model.observe(upload.offset, `HEAD on ${instance.name}`);
      this.settled(upload, afterCrash || this.crashedSinceWrite);
    } finally {
      await lock.release();
    }
  }

  private async declare(via: number): Promise<void> {
    const instance = this.fleet.at(via);
    const lock = testLock();
    try {
      const upload = await instance.store.get(this.id, lock);
      this.model.observe(upload.offset, `declare on ${instance.name}`);
      const declared = await instance.store.declareLength(upload, this.model.total, lock);
      this.model.size = this.model.total;
      this.model.observe(declared.offset, `declared on ${instance.name}`);
      this.crashedSinceWrite = false;
      this.settled(declared);
    } finally {
      await lock.release();
    }
  }

  /** Writes what is left (declaring the length first when deferred); the upload must then be finished. */
  private async finish(): Promise<void> {
    const model: UploadModel = this.model;
    for (let via = 0; !model.finished; via++) {
      model.check(via < 3, 'the upload does not finish');
      if (model.size === null) await this.declare(via);
      if (model.finished) break;
      const data = this.bytes.next(model.remaining);
      const outcome = await this.patchOk(via, clientBody(data, [], 'end'), data.length);
      model.check(!outcome.failure, `final write failed: ${outcome.failure}`);
      model.append(data);
      this.settled(outcome.upload);
    }
  }

  /** A PATCH at the model's offset that must be accepted; its answer's offset is checked. */
  private async patchOk(via: number, body: Readable, expectedBytes: number): Promise<WriteOutcome> {
    const instance = this.fleet.at(via);
    const result = await this.patch(instance, this.model.offset, body, expectedBytes);
    this.model.check(!result.refused, `a PATCH at the model's offset ${this.model.offset} was refused`);
    this.model.log.push(`  PATCH on ${instance.name} answered offset ${result.outcome.upload.offset}`);
    this.crashedSinceWrite = false;
    return result.outcome;
  }

  /** What PatchHandler does under the lock: read the upload, refuse a wrong offset, write. */
  private async patch(
    instance: StoreInstance,
    offset: number,
    body: Readable,
    expectedBytes: number,
    release = true,
  ): Promise<PatchResult> {
    const lock = testLock();
    try {
      const upload = await instance.store.get(this.id, lock);
      if (release) this.model.observe(upload.offset, `PATCH on ${instance.name} read`);
      if (upload.offset !== offset) return { refused: true, offset: upload.offset };
      const limit = upload.size ?? this.fleet.options.maxSize;
      const outcome = await instance.store.write(upload, body, lock, {
        maxBytes: limit - upload.offset,
        expectedBytes,
      });
      return { refused: false, outcome };
    } finally {
      if (release) await lock.release();
    }
  }

  /**
   * The model's expectations of an upload the store handed back: its length, and finished exactly when complete. An
   * instance that died between storing the last bytes and completing the multipart upload leaves it complete but
   * unfinished (README, "beforeFinish": an empty PATCH at the final offset finishes it), so after a crash that is
   * allowed until the next write.
   */
  private settled(upload: Upload, afterCrash = false): void {
    const model: UploadModel = this.model;
    model.check(upload.size === model.size, `size ${upload.size}, but the model has ${model.size}`);
    const complete = model.size !== null && upload.offset === model.size;
    const allowed = isFinished(upload) === complete || (afterCrash && complete);
    model.check(allowed, `finishedAt ${upload.finishedAt} at offset ${upload.offset}`);
    model.finished = isFinished(upload);
  }

  /**
   * Completion refused (InvalidPart) is the documented answer to a stale writer: accepted only when a part that
   * landed late now differs in S3 from what the journal lists.
   */
  private async staleCaught(error: unknown): Promise<boolean> {
    if (!(error instanceof StorageError) || (error.cause as Error | undefined)?.name !== 'InvalidPart') return false;
    const prefix = this.fleet.options.objectPrefix;
    const info = await this.s3.object(`${prefix}${this.id}.info`);
    if (!info) return false;
    const journal = JSON.parse(info.toString('utf8')) as {
      multipartUploadId: string;
      parts: Array<{ partNumber: number; etag: string }>;
    };
    const inS3 = await this.s3.parts(`${prefix}${this.id}`, journal.multipartUploadId);
    return journal.parts.some((p) => this.lateParts.has(p.partNumber) && inS3.get(p.partNumber) !== p.etag);
  }

  /** After the run: the dead PATCHes' clients go away too, so that their writes can end (see StoreFleet.close). */
  abandon(): void {
    for (const body of this.deadBodies) body.destroy();
  }

  private result(finished: boolean, staleCaught: boolean): RunResult {
    return { finished, staleCaught, crashes: this.crashes, lateParts: this.lateParts.size };
  }
}

function firstDifference(a: Buffer, b: Buffer): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return i;
  return Math.min(a.length, b.length);
}
