output "repository_urls" {
  description = "Repository URLs by name: the images' names in deploy/k8s/overlays/prod."
  value       = { for name, repo in aws_ecr_repository.this : name => repo.repository_url }
}

output "repository_arns" {
  description = "Repository ARNs by name, for IAM policies (the CI push role, the engine)."
  value       = { for name, repo in aws_ecr_repository.this : name => repo.arn }
}

output "registry" {
  description = "The registry's host (<account>.dkr.ecr.<region>.amazonaws.com)."
  value       = split("/", values(aws_ecr_repository.this)[0].repository_url)[0]
}
