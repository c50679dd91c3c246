/**
 * S3's REST API has no `Action` parameter: the operation is the method, whether the path names
 * a bucket and a key, and a few marker query parameters (`?uploads`, `?tagging`…). This maps
 * them the way S3 routes them (S3 API reference, one page per operation), so rules can say
 * `aws.action == 'DeleteBucket'` instead of matching methods and paths.
 *
 * @module
 */

/** Where an S3 request points: a bucket (`""`: the service, ListBuckets) and a key. */
export interface S3Target {
  bucket: string;
  key: string;
}

/**
 * The bucket and key of an S3 request: virtual-hosted (`bucket.s3.us-east-1.amazonaws.com/key`)
 * or path-style (`s3.amazonaws.com/bucket/key`). `path` is the decoded, normalised path.
 */
export function s3Target(host: string, path: string): S3Target {
  const labels = host.toLowerCase().split(".");
  // The service label: `s3`, `s3-accelerate`, `s3-us-west-2` (legacy) or `s3-fips`.
  const at = labels.findIndex((l) => l === "s3" || l.startsWith("s3-"));
  const hostBucket = at > 0 ? labels.slice(0, at).join(".") : "";
  const segments = path.replace(/^\/+/, "");
  if (hostBucket !== "") return { bucket: hostBucket, key: segments };
  const slash = segments.indexOf("/");
  if (slash < 0) return { bucket: segments, key: "" };
  return { bucket: segments.slice(0, slash), key: segments.slice(slash + 1) };
}

/** Sub-resource markers of bucket operations: `?marker` → the operation per method. */
const BUCKET_MARKERS: Record<string, Partial<Record<string, string>>> = {
  acl: { get: "GetBucketAcl", put: "PutBucketAcl" },
  cors: { get: "GetBucketCors", put: "PutBucketCors", delete: "DeleteBucketCors" },
  encryption: {
    get: "GetBucketEncryption",
    put: "PutBucketEncryption",
    delete: "DeleteBucketEncryption",
  },
  lifecycle: {
    get: "GetBucketLifecycleConfiguration",
    put: "PutBucketLifecycleConfiguration",
    delete: "DeleteBucketLifecycle",
  },
  location: { get: "GetBucketLocation" },
  logging: { get: "GetBucketLogging", put: "PutBucketLogging" },
  notification: {
    get: "GetBucketNotificationConfiguration",
    put: "PutBucketNotificationConfiguration",
  },
  policy: { get: "GetBucketPolicy", put: "PutBucketPolicy", delete: "DeleteBucketPolicy" },
  publicAccessBlock: {
    get: "GetPublicAccessBlock",
    put: "PutPublicAccessBlock",
    delete: "DeletePublicAccessBlock",
  },
  replication: {
    get: "GetBucketReplication",
    put: "PutBucketReplication",
    delete: "DeleteBucketReplication",
  },
  tagging: { get: "GetBucketTagging", put: "PutBucketTagging", delete: "DeleteBucketTagging" },
  uploads: { get: "ListMultipartUploads" },
  versioning: { get: "GetBucketVersioning", put: "PutBucketVersioning" },
  versions: { get: "ListObjectVersions" },
  website: { get: "GetBucketWebsite", put: "PutBucketWebsite", delete: "DeleteBucketWebsite" },
  delete: { post: "DeleteObjects" },
};

/** Sub-resource markers of object operations. */
const OBJECT_MARKERS: Record<string, Partial<Record<string, string>>> = {
  acl: { get: "GetObjectAcl", put: "PutObjectAcl" },
  tagging: { get: "GetObjectTagging", put: "PutObjectTagging", delete: "DeleteObjectTagging" },
  retention: { get: "GetObjectRetention", put: "PutObjectRetention" },
  "legal-hold": { get: "GetObjectLegalHold", put: "PutObjectLegalHold" },
  attributes: { get: "GetObjectAttributes" },
  restore: { post: "RestoreObject" },
  select: { post: "SelectObjectContent" },
  uploads: { post: "CreateMultipartUpload" },
};

/**
 * The S3 operation of a request, or `null` when the method and markers name none this map
 * knows (the caller reports `aws.action` unknown: a rule reading it then denies).
 */
export function s3Action(
  method: string,
  target: S3Target,
  query: Record<string, string[]>,
  headers: Record<string, string[]>,
): string | null {
  const has = (name: string) => Object.hasOwn(query, name);
  if (target.bucket === "") return method === "get" ? "ListBuckets" : null;
  if (target.key === "") {
    for (const [marker, byMethod] of Object.entries(BUCKET_MARKERS)) {
      if (has(marker)) return byMethod[method] ?? null;
    }
    if (method === "get") return query["list-type"]?.[0] === "2" ? "ListObjectsV2" : "ListObjects";
    return { head: "HeadBucket", put: "CreateBucket", delete: "DeleteBucket" }[method] ?? null;
  }
  if (has("uploadId")) {
    if (method === "put") return headers["x-amz-copy-source"] ? "UploadPartCopy" : "UploadPart";
    return {
      get: "ListParts",
      post: "CompleteMultipartUpload",
      delete: "AbortMultipartUpload",
    }[method] ?? null;
  }
  for (const [marker, byMethod] of Object.entries(OBJECT_MARKERS)) {
    if (has(marker)) return byMethod[method] ?? null;
  }
  if (method === "put") return headers["x-amz-copy-source"] ? "CopyObject" : "PutObject";
  return { get: "GetObject", head: "HeadObject", delete: "DeleteObject" }[method] ?? null;
}
