output "bucket_name" {
  description = "Data bucket name; jobs use s3://<bucket_name>/..."
  value       = aws_s3_bucket.data.id
}

output "bucket_arn" {
  description = "Data bucket ARN (for IAM policies)."
  value       = aws_s3_bucket.data.arn
}

output "kms_key_arn" {
  description = "KMS key encrypting the bucket's objects; readers and writers need kms:Decrypt / kms:GenerateDataKey on it."
  value       = aws_kms_key.data.arn
}

output "data_access_policy_json" {
  description = "IAM policy (JSON) to read and write the data bucket and use its KMS key, and nothing else."
  value       = data.aws_iam_policy_document.data_access.json
}
