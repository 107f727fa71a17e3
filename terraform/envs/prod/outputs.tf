output "cluster_name" {
  description = "The EKS cluster's name."
  value       = module.eks.cluster_name
}

output "cluster_endpoint" {
  description = "The Kubernetes API's endpoint."
  value       = module.eks.cluster_endpoint
}

output "kubeconfig_command" {
  description = "Adds the cluster to ~/.kube/config."
  value       = "aws eks update-kubeconfig --region ${var.region} --name ${module.eks.cluster_name}"
}

output "ecr_repository_urls" {
  description = "Image names for deploy/k8s/overlays/prod (images:) and deploy.yml."
  value       = module.ecr.repository_urls
}

output "engine_role_arn" {
  description = "The engine's IRSA role: deploy/k8s/overlays/prod/engine's service account annotation."
  value       = module.iam.engine_role_arn
}

output "github_role_arns" {
  description = "role-to-assume of the workflows: ecr-push (deploy.yml), terraform-plan and terraform-apply (terraform.yml)."
  value       = module.iam.github_role_arns
}

output "postgres_endpoint" {
  description = "The shop's PostgreSQL on RDS."
  value       = module.data.postgres_endpoint
}

output "redis_endpoint" {
  description = "The shop's Redis on ElastiCache."
  value       = module.data.redis_endpoint
}

output "vpc_id" {
  description = "The VPC's id."
  value       = module.network.vpc_id
}
