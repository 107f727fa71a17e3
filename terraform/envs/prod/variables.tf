variable "region" {
  description = "AWS region of the environment (also in backend.tf and deploy/k8s/overlays/prod: change all three together)."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "The environment's name: the prefix of its resources."
  type        = string
  default     = "aiops-prod"
}

variable "vpc_cidr" {
  description = "The VPC's range (deploy/k8s's network policies allow 10.0.0.0/16 for the ALB and the data stores)."
  type        = string
  default     = "10.0.0.0/16"
}

variable "kubernetes_version" {
  description = "EKS control plane version."
  type        = string
  default     = "1.33"
}

variable "public_access_cidrs" {
  description = "Addresses allowed to the EKS public API endpoint; empty makes the endpoint private only."
  type        = list(string)
}

variable "admin_role_arns" {
  description = "IAM roles given cluster-admin (people's SSO roles)."
  type        = list(string)
  default     = []
}

variable "github_repository" {
  description = "owner/name of this repository on GitHub: its workflows get the CI roles."
  type        = string
}

variable "create_github_oidc_provider" {
  description = "Create the account's GitHub OIDC provider (false when the account has one)."
  type        = bool
  default     = true
}
