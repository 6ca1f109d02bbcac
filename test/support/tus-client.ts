import { Upload, UploadOptions } from 'tus-js-client';

/** Runs a tus-js-client upload to the end; resolves with the upload URL. */
export function uploadWithTusClient(
  data: Buffer,
  options: Partial<UploadOptions> & { endpoint?: string; uploadUrl?: string },
): Promise<string> {
  return new Promise((resolve, reject) => {
    const upload: Upload = new Upload(data, {
      retryDelays: [],
      ...options,
      onError: (error) => reject(error),
      onSuccess: () => resolve(upload.url!),
    });
    upload.start();
  });
}

/** Id of an upload from its URL. */
export function idOf(url: string): string {
  return url.slice(url.lastIndexOf('/') + 1);
}
