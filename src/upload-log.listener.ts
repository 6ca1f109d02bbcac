import { Injectable, Logger } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import { TusEvents, UploadFinishedEvent } from '@nestjs-tus/s3';

/** What a user of the module typically does: react when an upload is complete. */
@Injectable()
export class UploadLogListener {
  private readonly logger = new Logger('Uploads');

  @OnEvent(TusEvents.UploadFinished)
  onFinished(event: UploadFinishedEvent): void {
    const name = event.upload.metadata.filename ?? '(no name)';
    this.logger.log(
      `finished ${event.upload.id} "${name}" (${event.upload.size} bytes) at s3://${event.object.bucket}/${event.object.key}`,
    );
  }
}
