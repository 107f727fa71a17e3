variable "name" {
  description = "Name prefix of the roles (the environment's name, e.g. aiops-prod)."
  type        = string
}

variable "oidc_provider_arn" {
  description = "The EKS cluster's IRSA OIDC provider."
  type        = string
}

variable "cluster_arn" {
  description = "The EKS cluster's ARN: the engine may describe it."
  type        = string
}

variable "shop_namespace" {
  description = "The namespace the engine's service account lives in (deploy/k8s/overlays/prod: shop)."
  type        = string
  default     = "shop"
}

variable "engine_service_account" {
  description = "The engine's service account name (deploy/k8s/base/engine)."
  type        = string
  default     = "aiops"
}

variable "ecr_repository_arns" {
  description = "The image repositories: the engine reads their image list (rollback targets), CI pushes to them."
  type        = list(string)
}

variable "secrets_arn_prefix" {
  description = "ARN prefix of the Secrets Manager secrets External Secrets may read (arn:...:secret:aiops/prod/)."
  type        = string
}

variable "secrets_kms_key_arns" {
  description = "KMS keys those secrets are encrypted with."
  type        = list(string)
}

variable "github_repository" {
  description = "The GitHub repository (owner/name) whose workflows may assume the CI roles through GitHub's OIDC provider."
  type        = string
}

variable "create_github_oidc_provider" {
  description = "Create the account's GitHub Actions OIDC provider (there is at most one per account: false when another stack made it)."
  type        = bool
  default     = true
}

variable "terraform_state_bucket" {
  description = "The S3 bucket holding Terraform's state (terraform/envs/prod/backend.tf): the plan role reads it."
  type        = string
}

variable "terraform_lock_table" {
  description = "The DynamoDB table of Terraform's state locks: the plan role takes locks in it."
  type        = string
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
