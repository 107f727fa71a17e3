output "engine_role_arn" {
  description = "The engine's IRSA role: the eks.amazonaws.com/role-arn annotation of its service account (deploy/k8s/overlays/prod/engine)."
  value       = module.engine_irsa.iam_role_arn
}

output "load_balancer_controller_role_arn" {
  description = "The AWS Load Balancer Controller's IRSA role."
  value       = module.load_balancer_controller_irsa.iam_role_arn
}

output "external_secrets_role_arn" {
  description = "External Secrets' IRSA role."
  value       = module.external_secrets_irsa.iam_role_arn
}

output "github_role_arns" {
  description = "Roles for GitHub Actions (role-to-assume): ecr-push (deploy.yml), terraform-plan and terraform-apply (terraform.yml)."
  value       = { for k, r in aws_iam_role.github : k => r.arn }
}
