import type { ServerResponse } from 'node:http';
import { Inject, Injectable } from '@nestjs/common';
import { CHECKSUM_ALGORITHMS } from '../../protocol/checksum';
import { TUS_ALL_EXTENSIONS, TUS_VERSION } from '../../protocol/tus-constants';
import { supportsConcatenation, TusDataStore } from '../../store/tus-data-store';
import { TUS_S3_OPTIONS, TUS_STORE } from '../../tus-s3.constants';
import type { ResolvedTusS3Options } from '../../tus-s3.options';
import { send } from '../tus-response';

/** OPTIONS: what this server supports: the extensions switched on that the store can serve. */
@Injectable()
export class OptionsHandler {
  private readonly extensions: string;

  constructor(
    @Inject(TUS_STORE) store: TusDataStore,
    @Inject(TUS_S3_OPTIONS) private readonly options: ResolvedTusS3Options,
  ) {
    const served = TUS_ALL_EXTENSIONS.filter(
      (name) =>
        options.extensions.has(name) &&
        (name !== 'concatenation' || supportsConcatenation(store)) &&
        (name !== 'expiration' || options.expireAfterMs !== null),
    );
    this.extensions = served.join(',');
  }

  handle(res: ServerResponse): void {
    send(res, 204, {
      'Tus-Version': TUS_VERSION,
      'Tus-Extension': this.extensions,
      'Tus-Max-Size': this.options.maxSize,
      'Tus-Checksum-Algorithm': this.options.extensions.has('checksum') ? CHECKSUM_ALGORITHMS.join(',') : undefined,
    });
  }
}
