import { partsEnd, UploadInfo } from '../upload-info';
import type { HeldKey } from './held-bytes';
import { RedisRuns, RedisUploadState, RunRef } from './redis-runs';

/** Entries kept per instance; the oldest is dropped past this. */
const CACHE_LIMIT = 10_000;

/**
 * The journal of an upload whose held bytes live in Redis, as requests see it. Two things make a small PATCH
 * cheap: the journal read from S3 is cached per instance and trusted while the version in Redis is unchanged (every
 * save sets a new random version first, so a cache can only be stale while it is not trusted), and parts that the
 * PartFlusher uploaded in the background are adopted from Redis, so the journal in S3 is written once per few
 * parts rather than per PATCH.
 *
 * Only requests holding the upload's lock fill the cache: nobody writes while they read, so what they cache matches
 * the version they saw.
 */
export class RedisJournal {
  private readonly cache = new Map<string, { version: string; journal: UploadInfo }>();
  /** Per upload, how far this instance trimmed its run, so a trim is only asked for when a part more can go. */
  private readonly trimmedTo = new Map<string, { base: number; inParts: number }>();

  constructor(private readonly runs: RedisRuns) {}

  /** The upload as a request works with it, from the cached journal, or undefined when that is not current. */
  async fromCache(uploadId: string): Promise<UploadInfo | undefined> {
    const cached = this.cache.get(uploadId);
    if (!cached) return undefined;
    const state = await this.runs.state(runOf(cached.journal));
    if (state.journalVersion !== cached.version) {
      this.cache.delete(uploadId);
      return undefined;
    }
    return effective(cached.journal, state);
  }

  /** The upload as a request works with it, from a journal just read from S3 (its `pending` empty). */
  async fromJournal(journal: UploadInfo, cacheable: boolean): Promise<UploadInfo> {
    const state = await this.runs.state(runOf(journal));
    if (cacheable && state.journalVersion !== null) this.remember(journal.id, state.journalVersion, journal);
    return effective(journal, state);
  }

  /** What is in S3, as far as this instance knows (undefined: not known, assume it differs). */
  persisted(uploadId: string): UploadInfo | undefined {
    return this.cache.get(uploadId)?.journal;
  }

  /** Call before writing the journal to S3; pass the result to `saved` afterwards. */
  async invalidate(uploadId: string): Promise<string> {
    this.cache.delete(uploadId);
    return this.runs.bumpJournalVersion(uploadId);
  }

  /** `journal` is in S3 now, as `version`. */
  saved(version: string, journal: UploadInfo): void {
    this.remember(journal.id, version, journal);
  }

  forget(uploadId: string): void {
    this.cache.delete(uploadId);
    this.trimmedTo.delete(uploadId);
  }

  /** Whether at least a part's worth of the run's start is in parts and was not trimmed from Redis yet. */
  shouldTrim(uploadId: string, base: number, inParts: number, partSize: number): boolean {
    const trimmed = this.trimmedTo.get(uploadId);
    return inParts - (trimmed?.base === base ? trimmed.inParts : 0) >= partSize;
  }

  trimmed(uploadId: string, base: number, inParts: number): void {
    this.trimmedTo.delete(uploadId);
    this.trimmedTo.set(uploadId, { base, inParts });
    if (this.trimmedTo.size > CACHE_LIMIT) this.trimmedTo.delete(this.trimmedTo.keys().next().value!);
  }

  private remember(uploadId: string, version: string, journal: UploadInfo): void {
    this.cache.delete(uploadId);
    this.cache.set(uploadId, { version, journal: { ...journal, pending: [] } });
    if (this.cache.size > CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value!);
  }
}

/** Where the held run of this journal starts. */
export function baseOf(journal: Pick<UploadInfo, 'heldBase' | 'parts'>): number {
  return journal.heldBase ?? partsEnd(journal);
}

/** The run of this journal, as its journal in S3 says. */
export function runOf(journal: Pick<UploadInfo, 'id' | 'heldBase' | 'parts'>): RunRef {
  return { uploadId: journal.id, base: baseOf(journal) };
}

/**
 * Adds the parts flushed in the background that continue the journal's parts (each starts where the parts before
 * it end), and lists the held bytes after the parts as pending.
 */
function effective(journal: UploadInfo, state: RedisUploadState): UploadInfo {
  const parts = [...journal.parts];
  let end = partsEnd(journal);
  for (const { start, ...part } of state.flushed) {
    if (start !== end || part.partNumber !== parts.length + 1) continue;
    parts.push(part);
    end += part.size;
  }
  const base = baseOf(journal);
  const heldAfterParts = base + state.heldLength - end;
  const pending: HeldKey[] = heldAfterParts > 0 ? [{ in: 'redis', base, size: heldAfterParts, skip: end - base }] : [];
  return { ...journal, parts, pending };
}
