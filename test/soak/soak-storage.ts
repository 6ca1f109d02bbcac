import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The sha256 of an object as S3 holds it, or undefined when there is no such object. */
export async function storedSha256(client: S3Client, bucket: string, key: string): Promise<string | undefined> {
  try {
    const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const hash = createHash('sha256');
    for await (const chunk of object.Body as Readable) hash.update(chunk as Buffer);
    return hash.digest('hex');
  } catch (error) {
    if ((error as Error).name === 'NoSuchKey') return undefined;
    throw error;
  }
}

/** An object's text (a journal, to say why an upload went wrong), or `(none)`. */
export async function storedText(client: S3Client, bucket: string, key: string): Promise<string> {
  try {
    const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return await object.Body!.transformToString('utf8');
  } catch (error) {
    if ((error as Error).name === 'NoSuchKey') return '(none)';
    throw error;
  }
}
