output "cluster_name" {
  description = "The EKS cluster's name."
  value       = module.eks.cluster_name
}

output "cluster_arn" {
  description = "The EKS cluster's ARN."
  value       = module.eks.cluster_arn
}

output "cluster_endpoint" {
  description = "The Kubernetes API's endpoint."
  value       = module.eks.cluster_endpoint
}

output "cluster_certificate_authority_data" {
  description = "The API's CA certificate, base64."
  value       = module.eks.cluster_certificate_authority_data
}

output "oidc_provider_arn" {
  description = "The IRSA OIDC provider's ARN, for roles assumed by service accounts."
  value       = module.eks.oidc_provider_arn
}

output "node_security_group_id" {
  description = "The nodes' security group (pods share it with the VPC CNI's defaults): the data stores admit it."
  value       = module.eks.node_security_group_id
}
