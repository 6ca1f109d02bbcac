import type { ObjectLocation, Upload } from '../store/tus-data-store';

export type { ObjectLocation };

/** Event names emitted through @nestjs/event-emitter; listen with `@OnEvent(TusEvents.UploadFinished)`. */
export const TusEvents = {
  UploadCreated: 'upload.created',
  UploadProgress: 'upload.progress',
  UploadFinished: 'upload.finished',
  UploadTerminated: 'upload.terminated',
} as const;

export class UploadCreatedEvent {
  constructor(readonly upload: Upload) {}
}

/** After each PATCH that stored bytes: `offset` is what the server has now. */
export class UploadProgressEvent {
  constructor(
    readonly upload: Upload,
    readonly offset: number,
  ) {}
}

/**
 * Delivered at least once per finished upload: again after a crash (or a failed copy) before it was recorded as
 * delivered. Listeners must be idempotent by `upload.id`.
 */
export class UploadFinishedEvent {
  /** Whether an earlier attempt may have been delivered already (a takeover after a crash or a failure). */
  readonly replayed: boolean;

  constructor(
    readonly upload: Upload,
    /** Where the finished bytes are. */
    readonly object: ObjectLocation,
    /** Where `copyOnFinish` put a copy, when configured (the copy exists when the event is emitted). */
    readonly copy?: ObjectLocation,
    /** 1 for the delivery right after finishing; more when another attempt took over an overdue one. */
    readonly attempt = 1,
  ) {
    this.replayed = attempt > 1;
  }
}

export class UploadTerminatedEvent {
  constructor(readonly upload: Upload) {}
}
