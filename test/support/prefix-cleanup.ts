import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import Redis from 'ioredis';
import { S3Inspector } from './s3-inspect';

/** Removes everything a run left under its prefixes: objects and multipart uploads in S3, and its own Redis keys. */
export async function cleanUp(client: S3Client, bucket: string, prefix: string, redisUrl?: string, keyPrefix?: string) {
  const inspector = new S3Inspector(client, bucket);
  for (const key of await inspector.keys(prefix))
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  for (;;) {
    const page = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
    if (!page.Uploads?.length) break;
    for (const u of page.Uploads)
      await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }));
  }
  if (!redisUrl || !keyPrefix) return;
  const redis = new Redis(redisUrl);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 500);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
