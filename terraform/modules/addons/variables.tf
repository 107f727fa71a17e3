variable "cluster_name" {
  description = "The EKS cluster the controllers run in."
  type        = string
}

variable "region" {
  description = "The cluster's AWS region."
  type        = string
}

variable "vpc_id" {
  description = "The cluster's VPC (the load balancer controller then needs no instance metadata)."
  type        = string
}

variable "load_balancer_controller_role_arn" {
  description = "IRSA role of the AWS Load Balancer Controller."
  type        = string
}

variable "load_balancer_controller_chart_version" {
  description = "Version of the eks-charts aws-load-balancer-controller chart."
  type        = string
  default     = "1.13.0"
}

variable "external_secrets_role_arn" {
  description = "IRSA role of the External Secrets Operator."
  type        = string
}

variable "external_secrets_chart_version" {
  description = "Version of the external-secrets chart (0.16 and later serve the external-secrets.io/v1 API deploy/k8s uses)."
  type        = string
  default     = "0.17.0"
}
