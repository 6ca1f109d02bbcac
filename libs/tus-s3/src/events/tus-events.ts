import type { UploadInfo } from '../store/upload-info';

/** Event names emitted through @nestjs/event-emitter; listen with `@OnEvent(TusEvents.UploadFinished)`. */
export const TusEvents = {
  UploadCreated: 'upload.created',
  UploadProgress: 'upload.progress',
  UploadFinished: 'upload.finished',
  UploadTerminated: 'upload.terminated',
} as const;

export interface ObjectLocation {
  bucket: string;
  key: string;
}

export class UploadCreatedEvent {
  constructor(readonly upload: UploadInfo) {}
}

/** After each PATCH that stored bytes: `offset` is what the server has now. */
export class UploadProgressEvent {
  constructor(
    readonly upload: UploadInfo,
    readonly offset: number,
  ) {}
}

export class UploadFinishedEvent {
  constructor(
    readonly upload: UploadInfo,
    /** Where the finished bytes are. */
    readonly object: ObjectLocation,
    /** Where `copyOnFinish` put a copy, when configured and the copy worked. */
    readonly copy?: ObjectLocation,
  ) {}
}

export class UploadTerminatedEvent {
  constructor(readonly upload: UploadInfo) {}
}
