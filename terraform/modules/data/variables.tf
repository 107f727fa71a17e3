variable "name" {
  description = "Name prefix of the data stores (the environment's name, e.g. aiops-prod)."
  type        = string
}

variable "secrets_prefix" {
  description = "Secrets Manager name prefix the shop's secrets are made under (deploy/k8s/overlays/prod reads aiops/prod/...)."
  type        = string
  default     = "aiops/prod/"
}

variable "vpc_id" {
  description = "The VPC the data stores live in."
  type        = string
}

variable "database_subnet_group_name" {
  description = "The RDS subnet group (the network module's database subnets)."
  type        = string
}

variable "database_subnet_ids" {
  description = "The database subnets, for ElastiCache's subnet group."
  type        = list(string)
}

variable "client_security_group_ids" {
  description = "Security groups allowed to connect (the EKS nodes': pods share it)."
  type        = list(string)
}

variable "postgres_instance_class" {
  description = "RDS instance class of the shop's PostgreSQL."
  type        = string
  default     = "db.t4g.medium"
}

variable "postgres_allocated_storage" {
  description = "RDS storage in GiB at creation; it grows on its own up to ten times this."
  type        = number
  default     = 20
}

variable "redis_node_type" {
  description = "ElastiCache node type of the carts' Redis."
  type        = string
  default     = "cache.t4g.small"
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
