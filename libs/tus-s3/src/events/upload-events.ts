import { Inject, Injectable, Logger, OnModuleInit, Optional } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { supportsFinishedCopy, TusDataStore, Upload } from '../store/tus-data-store';
import { TUS_STORE } from '../tus-s3.constants';
import {
  TusEvents,
  UploadCreatedEvent,
  UploadFinishedEvent,
  UploadProgressEvent,
  UploadTerminatedEvent,
} from './tus-events';

/**
 * Tells the host app what happened to uploads, through @nestjs/event-emitter. A listener that throws is logged and
 * never changes the answer the client gets.
 */
@Injectable()
export class UploadEvents implements OnModuleInit {
  private readonly logger = new Logger('TusS3');

  constructor(
    @Inject(TUS_STORE) private readonly store: TusDataStore,
    @Optional() private readonly emitter?: EventEmitter2,
  ) {}

  onModuleInit(): void {
    if (this.emitter) return;
    this.logger.warn(
      'EventEmitter2 is not available: upload events (upload.finished, ...) will not be delivered. Import ' +
        'EventEmitterModule.forRoot() from @nestjs/event-emitter in your app module (one copy of that package only).',
    );
  }

  created(upload: Upload): void {
    this.emit(TusEvents.UploadCreated, new UploadCreatedEvent(upload));
  }

  progress(upload: Upload): void {
    this.emit(TusEvents.UploadProgress, new UploadProgressEvent(upload, upload.offset));
  }

  terminated(upload: Upload): void {
    this.emit(TusEvents.UploadTerminated, new UploadTerminatedEvent(upload));
  }

  /**
   * Copies the finished upload where `copyOnFinish` says (when the store can), then announces it. For stores that do
   * not record announcements; the module delivers through {@link UploadEvents.announceFinished} otherwise.
   */
  async finished(upload: Upload): Promise<void> {
    let copy: UploadFinishedEvent['copy'];
    if (supportsFinishedCopy(this.store)) {
      try {
        copy = await this.store.copyFinished(upload);
      } catch (error) {
        this.logger.error(`upload ${upload.id}: copying the finished upload failed: ${(error as Error).message}`);
      }
    }
    await this.announceFinished(upload, copy);
  }

  /**
   * Emits `upload.finished` and waits for async listeners (so that the caller may then record it as delivered). A
   * listener that throws is logged; the event counts as delivered.
   */
  async announceFinished(upload: Upload, copy?: UploadFinishedEvent['copy'], attempt = 1): Promise<void> {
    const event = new UploadFinishedEvent(upload, upload.location, copy, attempt);
    try {
      await this.emitter?.emitAsync(TusEvents.UploadFinished, event);
    } catch (error) {
      this.logger.error(
        `upload ${upload.id}: a listener of ${TusEvents.UploadFinished} threw: ${(error as Error).message}`,
      );
    }
  }

  private emit(name: string, event: { upload: Upload }): void {
    try {
      this.emitter?.emit(name, event);
    } catch (error) {
      this.logger.error(`upload ${event.upload.id}: a listener of ${name} threw: ${(error as Error).message}`);
    }
  }
}
