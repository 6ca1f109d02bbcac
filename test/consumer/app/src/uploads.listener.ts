import { Injectable } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import { TusEvents, UploadFinishedEvent } from '@nestjs-tus/s3';
import { report } from './consumer.config';

@Injectable()
export class UploadsListener {
  @OnEvent(TusEvents.UploadFinished)
  onFinished({ upload, object }: UploadFinishedEvent): void {
    const size: number | null = upload.size;
    const filename: string | null | undefined = upload.metadata.filename;
    report('finished', { id: upload.id, size, filename, bucket: object.bucket, key: object.key });
  }
}
