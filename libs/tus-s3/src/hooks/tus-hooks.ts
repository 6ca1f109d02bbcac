import type { IncomingMessage } from 'node:http';
import type { UploadMetadata } from '../protocol/metadata';
import type { Upload, UploadConcat } from '../store/tus-data-store';

/** What a creation request asks for, as `beforeCreate` sees it. */
export interface CreationRequest {
  readonly req: IncomingMessage;
  /** The declared Upload-Length; null for Upload-Defer-Length: 1. For a final upload, the partials' sum. */
  readonly size: number | null;
  /** Decoded Upload-Metadata. */
  readonly metadata: UploadMetadata;
  readonly concat?: UploadConcat;
}

/** What `beforeCreate` may decide for the upload about to be created; every field is optional. */
export interface CreationDecision {
  /**
   * The upload's id, which is also its object key below `objectPrefix` (e.g. `tenant-a/2026/11/<uuid>`): segments of
   * letters, digits, `_` and `-` joined by `/`, at most 200 characters, no dots (so no `..` and no collision with an
   * upload's `.info`). Must be unique: creation answers 409 when an upload with this id exists.
   */
  id?: string;
  /** The metadata to store instead of the request's (HEAD then echoes this, encoded again). */
  metadata?: Record<string, string | null>;
  /** The largest Upload-Length this request may declare (never above the module's `maxSize`). */
  maxSize?: number;
}

/** A request to an existing upload, as `onUploadRequest`, `beforeFinish` and `beforeTerminate` see it. */
export interface UploadRequest {
  readonly req: IncomingMessage;
  /** The upload as stored (never the store's internal journal). */
  readonly upload: Upload;
  /** What the request does: `create` (a creation with data, or a final upload), `head`, `patch`, `terminate`, `download`. */
  readonly kind: 'create' | 'head' | 'patch' | 'terminate' | 'download';
}

/**
 * Decisions the host app takes about uploads: provide a class implementing any of these methods as `hooks` (it is
 * created by Nest's DI, so it can inject the app's services). A hook refuses by throwing a {@link TusHookRefusal} or
 * any Nest `HttpException` (its status and message reach the client); anything else it throws is a 500 with the
 * error logged. Whatever a hook refuses leaves nothing behind in storage.
 */
export interface TusHooks {
  /** Before an upload is created (POST, including a final upload of the concatenation extension). */
  beforeCreate?(request: CreationRequest): CreationDecision | void | Promise<CreationDecision | void>;
  /** On every request to an existing upload (HEAD, PATCH, DELETE, GET) before it is served: e.g. ownership. */
  onUploadRequest?(request: UploadRequest): void | Promise<void>;
  /**
   * Once every byte is stored, before the upload counts as finished: before its final object is assembled, under
   * its lock (nobody can read it meanwhile), and so before `copyOnFinish` and `upload.finished`. A refusal terminates
   * the upload (every object of it is removed) and the client gets the refusal. An empty upload (length 0) is
   * finished by its creation: it is asked right after.
   */
  beforeFinish?(request: UploadRequest): void | Promise<void>;
  /** Before DELETE removes an upload. A refusal leaves it as it is. */
  beforeTerminate?(request: UploadRequest): void | Promise<void>;
}

/** Thrown by a hook to refuse a request with a status (4xx) and a message the client sees. */
export class TusHookRefusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'TusHookRefusal';
  }
}
