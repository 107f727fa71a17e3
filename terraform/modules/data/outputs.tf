output "postgres_endpoint" {
  description = "The shop's PostgreSQL (host:port)."
  value       = aws_db_instance.postgres.endpoint
}

output "redis_endpoint" {
  description = "The shop's Redis primary endpoint."
  value       = aws_elasticache_replication_group.redis.primary_endpoint_address
}

output "secrets_arn_prefix" {
  description = "ARN prefix of the environment's secrets, for External Secrets' role."
  value       = "arn:aws:secretsmanager:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:secret:${var.secrets_prefix}"
}

output "kms_key_arn" {
  description = "The data stores' and secrets' KMS key."
  value       = aws_kms_key.data.arn
}
