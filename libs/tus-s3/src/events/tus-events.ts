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

export class UploadFinishedEvent {
  constructor(
    readonly upload: Upload,
    /** Where the finished bytes are. */
    readonly object: ObjectLocation,
    /** Where `copyOnFinish` put a copy, when configured and the copy worked. */
    readonly copy?: ObjectLocation,
  ) {}
}

export class UploadTerminatedEvent {
  constructor(readonly upload: Upload) {}
}
