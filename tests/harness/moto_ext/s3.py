"""S3's CreateBucket with tags, which moto 5.2.5 ignores.

The S3 model (aws-sdk-s3 1.122.0, generated from the service model; the
same shape as botocore's data/s3/2006-03-01/service-2.json,
CreateBucketConfiguration): `Tags`, "An array of tags that you can apply
to the bucket that you're creating" (general purpose buckets need
`s3:TagResource`). moto parses only the LocationConstraint of the body and
drops the tags, so a bucket created with them would read back untagged.
Here they are applied as part of the same CreateBucket request, as AWS
does: a bucket never exists without them.
"""

import xmltodict
from moto.s3.responses import S3Response


def _tags_in_create_body(body: bytes) -> dict[str, str] | None:
    if not body:
        return None
    try:
        parsed = xmltodict.parse(body, force_list={"Tag": True})
    except Exception:  # not XML: moto answers it as it would
        return None
    config = parsed.get("CreateBucketConfiguration") or {}
    tags = (config.get("Tags") or {}).get("Tag")
    if not tags:
        return None
    return {t["Key"]: t.get("Value") or "" for t in tags}


def _wrap_bucket_put(original):
    def bucket_put(self, request, bucket_name, querystring):
        result = original(self, request, bucket_name, querystring)
        # A plain PUT on the bucket (no subresource) is CreateBucket.
        if not querystring:
            tags = _tags_in_create_body(self.body)
            if tags:
                self.backend.put_bucket_tagging(bucket_name, tags)
        return result

    return bucket_put


def install() -> None:
    S3Response._bucket_response_put = _wrap_bucket_put(S3Response._bucket_response_put)
