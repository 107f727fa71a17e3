# prod's data stores, outside the cluster: postgresql on rds (catalog and
# orders, database `shop`; the engine's database `aiops` on the same
# instance) and redis on elasticache (cart). their endpoints and the
# database's credentials go to secrets manager as json, which external
# secrets turns into the DATABASE_URL and REDIS_URL the services read
# (deploy/k8s/overlays/prod/shop/externalsecrets.yaml).

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

# one key for the data stores and their secrets
resource "aws_kms_key" "data" {
  description         = "${var.name}: rds, elasticache and their secrets"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.data_key.json
  tags                = var.tags
}

data "aws_iam_policy_document" "data_key" {
  #checkov:skip=CKV_AWS_111:a key policy's "*" resource is this key itself; this is aws' default key policy (the account administers, iam grants use)
  #checkov:skip=CKV_AWS_356:as above, "*" in a key policy means this key
  #checkov:skip=CKV_AWS_109:as above: the account root, not a wildcard principal, administers the key
  # the account administers the key; iam policies grant its use (external
  # secrets' role may decrypt, terraform/modules/iam)
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}

resource "aws_kms_alias" "data" {
  name          = "alias/${var.name}-data"
  target_key_id = aws_kms_key.data.key_id
}

resource "aws_security_group" "postgres" {
  name        = "${var.name}-postgres"
  description = "PostgreSQL on RDS: the cluster's nodes and pods only"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "postgres" {
  for_each = toset(var.client_security_group_ids)

  security_group_id            = aws_security_group.postgres.id
  description                  = "PostgreSQL from the cluster"
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_security_group" "redis" {
  name        = "${var.name}-redis"
  description = "Redis on ElastiCache: the cluster's nodes and pods only"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "redis" {
  for_each = toset(var.client_security_group_ids)

  security_group_id            = aws_security_group.redis.id
  description                  = "Redis from the cluster"
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
}

# the master password: generated here, kept in the (encrypted, locked) state
# and in secrets manager, never in git
resource "random_password" "postgres" {
  length  = 32
  special = false
}

resource "aws_db_parameter_group" "postgres" {
  name        = "${var.name}-postgres15"
  family      = "postgres15"
  description = "TLS only, and slow statements logged"

  # the services connect with sslmode=require; refuse anything else
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "500"
  }
  parameter {
    name  = "log_connections"
    value = "1"
  }

  tags = var.tags
}

resource "aws_iam_role" "rds_monitoring" {
  name = "${var.name}-rds-monitoring"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "monitoring.rds.amazonaws.com" }
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_db_instance" "postgres" {
  identifier     = "${var.name}-postgres"
  engine         = "postgres"
  engine_version = "15"
  instance_class = var.postgres_instance_class

  db_name  = "shop"
  username = "shop"
  password = random_password.postgres.result
  port     = 5432

  allocated_storage     = var.postgres_allocated_storage
  max_allocated_storage = var.postgres_allocated_storage * 10
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.data.arn

  db_subnet_group_name   = var.database_subnet_group_name
  vpc_security_group_ids = [aws_security_group.postgres.id]
  parameter_group_name   = aws_db_parameter_group.postgres.name
  publicly_accessible    = false
  multi_az               = true

  iam_database_authentication_enabled = true
  auto_minor_version_upgrade          = true
  backup_retention_period             = 14
  copy_tags_to_snapshot               = true
  deletion_protection                 = true
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${var.name}-postgres-final"

  enabled_cloudwatch_logs_exports       = ["postgresql", "upgrade"]
  monitoring_interval                   = 60
  monitoring_role_arn                   = aws_iam_role.rds_monitoring.arn
  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.data.arn
  performance_insights_retention_period = 7

  tags = var.tags
}

resource "aws_elasticache_subnet_group" "redis" {
  name       = "${var.name}-redis"
  subnet_ids = var.database_subnet_ids
  tags       = var.tags
}

resource "aws_elasticache_replication_group" "redis" {
  #checkov:skip=CKV_AWS_30:the shop's redis client is built without tls (Cargo.toml: redis without a tls feature); the security group admits the cluster only
  #checkov:skip=CKV_AWS_31:an auth token needs in-transit encryption, see CKV_AWS_30
  replication_group_id = "${var.name}-redis"
  description          = "The shop's carts (cart service)"
  engine               = "redis"
  engine_version       = "7.1"
  node_type            = var.redis_node_type
  port                 = 6379

  # a primary and a replica in another zone, failing over on their own
  num_cache_clusters         = 2
  automatic_failover_enabled = true
  multi_az_enabled           = true

  subnet_group_name  = aws_elasticache_subnet_group.redis.name
  security_group_ids = [aws_security_group.redis.id]

  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.data.arn
  transit_encryption_enabled = false

  auto_minor_version_upgrade = true
  snapshot_retention_limit   = 3

  tags = var.tags
}

# what external secrets reads (deploy/k8s/overlays/prod/*/externalsecret*.yaml)
resource "aws_secretsmanager_secret" "database" {
  #checkov:skip=CKV2_AWS_57:rotating the rds master password needs a rotation lambda and a restart of catalog and orders; rotate by changing random_password's keepers and applying
  name        = "${var.secrets_prefix}shop-database"
  description = "The shop's PostgreSQL on RDS: username, password, host, port, dbname"
  kms_key_id  = aws_kms_key.data.arn
  tags        = var.tags
}

resource "aws_secretsmanager_secret_version" "database" {
  secret_id = aws_secretsmanager_secret.database.id
  secret_string = jsonencode({
    username = aws_db_instance.postgres.username
    password = random_password.postgres.result
    host     = aws_db_instance.postgres.address
    port     = tostring(aws_db_instance.postgres.port)
    dbname   = aws_db_instance.postgres.db_name
  })
}

resource "aws_secretsmanager_secret" "redis" {
  #checkov:skip=CKV2_AWS_57:holds an endpoint, no credential: nothing to rotate
  name        = "${var.secrets_prefix}shop-redis"
  description = "The shop's Redis on ElastiCache: host, port"
  kms_key_id  = aws_kms_key.data.arn
  tags        = var.tags
}

resource "aws_secretsmanager_secret_version" "redis" {
  secret_id = aws_secretsmanager_secret.redis.id
  secret_string = jsonencode({
    host = aws_elasticache_replication_group.redis.primary_endpoint_address
    port = tostring(aws_elasticache_replication_group.redis.port)
  })
}

# tokens people choose: made empty here, the value is put once with
#   aws secretsmanager put-secret-value --secret-id aiops/prod/shop-admin --secret-string '{"admin_token":"..."}'
#   aws secretsmanager put-secret-value --secret-id aiops/prod/engine --secret-string '{"api_tokens":"name:role:token,..."}'
resource "aws_secretsmanager_secret" "shop_admin" {
  #checkov:skip=CKV2_AWS_57:the chaos api's admin token is changed by people on game days, not by a rotation lambda
  name        = "${var.secrets_prefix}shop-admin"
  description = "The shop's chaos API token: admin_token"
  kms_key_id  = aws_kms_key.data.arn
  tags        = var.tags
}

resource "aws_secretsmanager_secret" "engine" {
  #checkov:skip=CKV2_AWS_57:the engine's api tokens name people and roles; they are changed by people, not by a rotation lambda
  name        = "${var.secrets_prefix}engine"
  description = "The aiops engine's API tokens: api_tokens"
  kms_key_id  = aws_kms_key.data.arn
  tags        = var.tags
}
